"""The image cache asset on the tiny lake: every local image cached, remote ones recorded, reruns idle."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.catalog import silver_catalog
from assets import keys
from assets.images import image_manifest
from recsys.images import processing as processing_module
from recsys.images import primary_images
from resources import ImageFetcherResource, default_resources
from tests.conftest import TINY_STYLES_WITH_IMAGES


def _resources(lake: Path) -> dict:
    return {**default_resources(str(lake)), "image_fetcher": ImageFetcherResource(offline=True)}


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == keys.IMAGE_MANIFEST]
    return event.materialization.metadata


def _checks(result: dg.ExecuteInProcessResult) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations() if c.asset_key == keys.IMAGE_MANIFEST}


def _manifest(lake: Path) -> pl.DataFrame:
    return pl.read_parquet(lake / "images" / "manifest.parquet")


@pytest.mark.slow
def test_sample_cache_every_local_image_and_record_every_remote_one(tiny_lake):
    result = dg.materialize([silver_catalog, image_manifest], resources=_resources(tiny_lake))
    assert result.success
    manifest = _manifest(tiny_lake)
    local = manifest.filter(pl.col("url").str.starts_with("raw/myntra/images/"))
    remote = manifest.filter(pl.col("url").str.starts_with("http"))
    assert local.height == TINY_STYLES_WITH_IMAGES and set(local["status"]) == {"ok"}
    assert remote.height > 0 and set(remote["status"]) == {"unreachable"}
    assert remote["error"].str.contains("offline").all() and remote["attempts"].sum() == 0
    # Every remote URL of a product is recorded, since each one failed in turn.
    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    remote_urls = products.filter(pl.col("source") == "asos")["image_urls"].list.len().sum()
    assert remote.height == remote_urls
    for path in local["path"]:
        assert (tiny_lake / path).is_file()
    assert primary_images(manifest).height == TINY_STYLES_WITH_IMAGES

    metadata = _metadata(result)
    assert metadata["dagster/row_count"].value == manifest.height
    assert metadata["products_with_cached_image"].value == TINY_STYLES_WITH_IMAGES
    assert "data:image/png;base64," in metadata["contact_sheet"].value
    assert "| ok | 120 |" in metadata["by_status"].value
    checks = _checks(result)
    assert checks["local_image_failures"].passed
    assert checks["remote_image_failures"].passed  # offline: not fetching is what was asked


@pytest.mark.slow
def test_second_materialization_does_nothing(tiny_lake, monkeypatch):
    assert dg.materialize([silver_catalog, image_manifest], resources=_resources(tiny_lake)).success
    manifest_file = tiny_lake / "images" / "manifest.parquet"
    written_at = manifest_file.stat().st_mtime_ns

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image was decoded on the rerun")

    monkeypatch.setattr(processing_module, "normalize_image", no_decoding)
    result = dg.materialize([image_manifest], resources=_resources(tiny_lake))
    assert result.success
    metadata = _metadata(result)
    assert metadata["manifest_written"].value is False
    assert "| local files read | 0 |" in metadata["this_run"].value
    assert manifest_file.stat().st_mtime_ns == written_at


@pytest.mark.slow
def test_broken_local_images_warn_without_blocking(tiny_lake):
    images = sorted((tiny_lake / "raw" / "myntra" / "images").glob("*.jpg"))
    for path in images[:5]:
        path.write_bytes(path.read_bytes()[:200])  # truncated
    result = dg.materialize([silver_catalog, image_manifest], resources=_resources(tiny_lake))
    manifest = _manifest(tiny_lake)
    assert manifest.filter(pl.col("status") == "corrupt").height == 5
    assert manifest.filter(pl.col("status") == "ok").height == TINY_STYLES_WITH_IMAGES - 5
    checks = _checks(result)
    warning = checks["local_image_failures"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "5 of 120" in warning.description and "| corrupt | 5 |" in warning.metadata["by_status"].value
    assert checks["local_images_available"].passed
