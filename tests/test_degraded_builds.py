"""Builds whose images are missing, too few or partly broken still finish, text-only where they must,
with warnings that say why; only a systemic loss of the local images blocks."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.catalog import silver_catalog
from assets.embeddings import image_tower
from assets import keys
from assets.images import image_manifest
from recsys.gold import GOLD_TABLES
from recsys.images.health import with_origin
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources
from tests.conftest import build_tiny_lake
from tests.image_samples import broken_local_files, odd_valid_files

pytestmark = pytest.mark.slow

FEW_IMAGES = 36
BROKEN_PER_KIND = 3          # 4 kinds: 12 of the tiny lake's 120 local images


def _images_folder(lake: Path) -> Path:
    return lake / "raw" / "myntra" / "images"


def _build(lake: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG, raise_on_error=False)


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}


def _assert_everything_built(lake: Path, result: dg.ExecuteInProcessResult) -> None:
    assert result.success
    errors = [key for key, c in _checks(result).items() if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    assert not errors
    for name in GOLD_TABLES:
        assert (lake / "gold" / f"{name}.parquet").exists(), name
    assert (lake / "warehouse.duckdb").exists() and (lake / "models" / "faiss_index").is_dir()
    metrics = pl.read_parquet(lake / "gold" / "evaluation" / "metrics.parquet")
    assert {"image", "fused_tuned", "hybrid"} <= set(metrics["model"])


def _assert_text_only(lake: Path, result: dg.ExecuteInProcessResult) -> None:
    checks = _checks(result)
    assert checks[("models/image_tower", "aligned_better_than_random")].passed
    skipped = checks[("models/image_tower", "tower_trained")]
    assert not skipped.passed and skipped.severity == dg.AssetCheckSeverity.WARN
    embeddings = pl.read_parquet(lake / "features" / "item_embeddings.parquet")
    assert not embeddings["has_image"].any() and embeddings["has_text"].all()
    assert embeddings["fused_vector"].null_count() == 0


@pytest.fixture(scope="module")
def no_images(tmp_path_factory):
    """No image anywhere: the Myntra images folder removed, ASOS URLs remote and the fetcher offline."""
    lake = build_tiny_lake(tmp_path_factory.mktemp("no_images") / "lake")
    shutil.rmtree(_images_folder(lake))
    return lake, _build(lake)


@pytest.fixture(scope="module")
def few_images(tmp_path_factory):
    lake = build_tiny_lake(tmp_path_factory.mktemp("few_images") / "lake")
    for path in sorted(_images_folder(lake).glob("*.jpg"))[FEW_IMAGES:]:
        path.unlink()
    return lake, _build(lake)


@pytest.fixture(scope="module")
def broken_batch(tmp_path_factory):
    """About a tenth of the local images broken, of every kind, and five odd but valid ones."""
    lake = build_tiny_lake(tmp_path_factory.mktemp("broken") / "lake")
    files = iter(sorted(_images_folder(lake).glob("*.jpg")))
    expected = {}
    for kind, (data, status) in broken_local_files(next(files).read_bytes()).items():
        for _ in range(BROKEN_PER_KIND):
            path = next(files)
            path.write_bytes(data)
            expected[path.name] = status
    for data in odd_valid_files().values():
        path = next(files)
        path.write_bytes(data)
        expected[path.name] = "ok"
    return lake, _build(lake), expected


def test_a_lake_without_images_builds_text_only_with_a_warning(no_images):
    lake, result = no_images
    _assert_everything_built(lake, result)
    _assert_text_only(lake, result)
    manifest = with_origin(pl.read_parquet(lake / "images" / "manifest.parquet"))
    assert manifest.filter(pl.col("origin") == "local").is_empty()
    assert not pl.read_parquet(lake / "gold" / "products.parquet")["has_image"].any()


def test_a_lake_with_a_few_dozen_images_builds_text_only_with_a_warning(few_images):
    lake, result = few_images
    _assert_everything_built(lake, result)
    _assert_text_only(lake, result)
    assert "skipped.json" in {p.name for p in (lake / "models" / "image_tower").iterdir()}
    embedded = _checks(result)[("features/item_embeddings", "cached_images_embedded")]
    assert not embedded.passed and embedded.severity == dg.AssetCheckSeverity.WARN
    assert f"{FEW_IMAGES} of {FEW_IMAGES}" in embedded.description
    # The images are cached all the same: a later build with more of them trains a tower.
    assert int(pl.read_parquet(lake / "gold" / "products.parquet")["has_image"].sum()) == FEW_IMAGES


def test_broken_local_images_make_their_products_text_only_and_warn(broken_batch):
    lake, result, expected = broken_batch
    _assert_everything_built(lake, result)
    manifest = with_origin(pl.read_parquet(lake / "images" / "manifest.parquet")).filter(pl.col("origin") == "local")
    status = {Path(url).name: s for url, s in manifest.select("url", "status").iter_rows()}
    assert {name: status[name] for name in expected} == expected
    broken = manifest.filter(pl.col("status") != "ok")["product_id"]
    assert broken.len() == BROKEN_PER_KIND * 4
    embeddings = pl.read_parquet(lake / "features" / "item_embeddings.parquet")
    products = pl.read_parquet(lake / "gold" / "products.parquet")
    for table in (embeddings, products):
        assert not table.filter(pl.col("product_id").is_in(broken.implode()))["has_image"].any()
    assert embeddings.filter(pl.col("product_id").is_in(broken.implode()))["has_text"].all()
    ok = manifest.filter(pl.col("status") == "ok")["product_id"]
    assert embeddings.filter(pl.col("product_id").is_in(ok.implode()))["has_image"].all()
    checks = _checks(result)
    warning = checks[("images/manifest", "local_image_failures")]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "| corrupt | 6 |" in warning.metadata["by_status"].value
    assert checks[("images/manifest", "local_images_available")].passed
    assert checks[("models/image_tower", "tower_trained")].passed


def test_losing_every_local_image_blocks_the_next_build(broken_batch, tmp_path):
    built, _, _ = broken_batch
    lake = shutil.copytree(built, tmp_path / "lake")
    shutil.move(_images_folder(lake), tmp_path / "moved_images")
    _images_folder(lake).mkdir()
    # The blocked build still writes its manifest; the build after it must block all the same.
    for _ in range(2):
        result = dg.materialize([silver_catalog, image_manifest, image_tower], resources=offline_resources(lake),
                                run_config={"ops": {"models__image_tower": RUN_CONFIG["ops"]["models__image_tower"]}},
                                raise_on_error=False)
        check = _checks(result)[("images/manifest", "local_images_available")]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["lost_products"].value == check.metadata["previously_ok_products"].value > 100
        assert not result.success
        assert [e.asset_key for e in result.get_asset_materialization_events()
                if e.asset_key.path[0] != "silver"] == [keys.IMAGE_MANIFEST]


def test_local_images_referenced_but_unreadable_block_a_first_build(tiny_lake):
    resources = offline_resources(tiny_lake)
    assert dg.materialize([silver_catalog], resources=resources).success
    shutil.rmtree(_images_folder(tiny_lake))
    result = dg.materialize([image_manifest], resources=resources, raise_on_error=False)
    check = _checks(result)[("images/manifest", "local_images_available")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "120 of 120 local images failed" in check.description
