"""A lake moved to another folder (a restore from backup, another mount point) is the same lake.

Local images are stored lake-relative (``raw/myntra/images/<id>.jpg``), so a copy that keeps its file
times (``cp -a``; here ``shutil.copytree`` with ``copy2``) rebuilds with no changed product and no list
recomputed, and no published table holds the folder the lake was built in. A lake built by the
version that stored absolute ``file://`` URIs rebuilds without decoding an image again or losing one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from recsys.catalog.ingest import content_hash
from tests.conftest import build_tiny_lake
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources

PUBLISHED = ("silver", "features", "gold", "images", "state", "models")
GOLD = ("products", "similar_items", "user_recommendations", "style_recommendations")


def _meta(result, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _copy_keeping_file_times(lake: Path, target: Path) -> Path:
    return Path(shutil.copytree(lake, target, copy_function=shutil.copy2, symlinks=True))


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("relocation")
    lake = build_tiny_lake(root / "built" / "lake")
    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG).success
    copy = _copy_keeping_file_times(lake, root / "restored" / "elsewhere")
    rebuilt = dg.materialize(ALL_ASSETS, resources=offline_resources(copy), run_config=RUN_CONFIG)
    assert rebuilt.success
    return lake, copy, rebuilt


def _strings(value) -> list[str]:
    """Every string inside a cell, however deeply nested in lists and structs."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


def _holding(path: Path, needles: set[str]) -> list[str]:
    """Where a Parquet file holds one of ``needles``: its key-value metadata and its columns."""
    parquet = pq.ParquetFile(path)
    found = [f"metadata {key!r}" for key, value in (parquet.metadata.metadata or {}).items()
             if any(n.encode() in key or n.encode() in value for n in needles)]
    table = parquet.read()
    for name in table.column_names:
        if any(n in s for cell in table.column(name).to_pylist() for s in _strings(cell) for n in needles):
            found.append(f"column {name!r}")
    return found


def _lake_paths(lake: Path) -> set[str]:
    return {str(lake), os.path.realpath(lake), Path(os.path.realpath(lake)).as_uri()}


@pytest.mark.slow
def test_a_copied_lake_keeps_its_file_times(lakes):
    lake, copy, _ = lakes
    for relative in ("raw/myntra/styles/styles.csv", next((lake / "raw/myntra/images").iterdir()).relative_to(lake)):
        original, copied = os.stat(lake / relative), os.stat(copy / relative)
        assert (copied.st_size, copied.st_mtime_ns) == (original.st_size, original.st_mtime_ns)


@pytest.mark.slow
def test_a_copied_lake_rebuilds_with_nothing_changed_and_no_list_recomputed(lakes):
    lake, copy, rebuilt = lakes
    assert pl.read_parquet(copy / "silver" / "product_changes.parquet").is_empty()
    changes = _meta(rebuilt, "silver/product_changes")
    assert (changes["new"], changes["changed"], changes["removed"]) == (0, 0, 0)
    assert _meta(rebuilt, "images/manifest")["manifest_written"] is False
    embeddings = _meta(rebuilt, "features/item_embeddings")
    assert embeddings["texts_encoded"] == 0 and embeddings["images_encoded"] == 0
    for key in ("gold/similar_items", "gold/user_recommendations"):
        assert _meta(rebuilt, key)["lists_recomputed"] == 0, _meta(rebuilt, key)["outcome"]
    last = pl.read_parquet(copy / "gold" / "builds.parquet").sort("started_at").row(-1, named=True)
    assert (last["new_products"], last["changed_products"], last["removed_products"]) == (0, 0, 0)
    assert not {"similar_items", "user_recommendations"} & set(last["recomputed"])
    for table in GOLD:
        mine, theirs = (pl.read_parquet(root / "gold" / f"{table}.parquet").drop("build_id", strict=False)
                        for root in (lake, copy))
        assert mine.equals(theirs), table
    for relative in ("silver/products.parquet", "images/manifest.parquet", "features/item_embeddings.parquet"):
        assert pl.read_parquet(lake / relative).equals(pl.read_parquet(copy / relative)), relative


@pytest.mark.slow
def test_no_published_parquet_file_holds_the_lake_path(lakes):
    lake, copy, _ = lakes
    for root in (lake, copy):
        needles = _lake_paths(root) | _lake_paths(lake)
        files = [p for folder in PUBLISHED for p in (root / folder).rglob("*.parquet")]
        assert len(files) > 10
        holding = {str(p.relative_to(root)): where for p in files if (where := _holding(p, needles))}
        assert not holding, holding
    products = pl.read_parquet(copy / "gold" / "products.parquet")
    local = products.filter(pl.col("source") == "myntra_styles", pl.col("image_urls").list.len() > 0)
    assert local.height > 0
    assert (local["image_urls"].list.first() == "raw/myntra/images/" + local["source_id"] + ".jpg").all()


@pytest.mark.slow
def test_a_lake_built_with_absolute_image_uris_rebuilds_without_losing_an_image(lakes, tmp_path):
    """What the previous version wrote: silver/products and the image manifest name local images
    by ``file://`` URI. The first build after the change re-classifies those products once, decodes
    no image again, keeps every one, and leaves no absolute path behind."""
    lake, *_ = lakes
    old = _copy_keeping_file_times(lake, tmp_path / "old")
    raw_uri = (old / "raw").resolve().as_uri()

    def as_absolute_uri(reference: pl.Expr) -> pl.Expr:
        return pl.when(reference.str.starts_with("raw/")).then(raw_uri + reference.str.slice(3)).otherwise(reference)

    products = pl.read_parquet(old / "silver/products.parquet").with_columns(
        pl.col("image_urls").list.eval(as_absolute_uri(pl.element())))
    products.with_columns(content_hash=pl.Series([content_hash(row) for row in products.iter_rows(named=True)])
                          ).write_parquet(old / "silver/products.parquet")
    manifest = pl.read_parquet(old / "images/manifest.parquet")
    manifest.with_columns(as_absolute_uri(pl.col("url"))).write_parquet(old / "images/manifest.parquet")
    ok_before = manifest.filter(pl.col("status") == "ok")
    local_products = products.filter(pl.col("image_urls").list.first().str.starts_with("file://")).height
    assert local_products > 0 and ok_before.height > 0

    rebuilt = dg.materialize(ALL_ASSETS, resources=offline_resources(old), run_config=RUN_CONFIG)
    assert rebuilt.success
    changes = _meta(rebuilt, "silver/product_changes")
    assert (changes["new"], changes["changed"], changes["removed"]) == (0, local_products, 0)
    images = _meta(rebuilt, "images/manifest")
    assert images["manifest_written"] is True and images["bytes_read_this_run"] == 0 and images["files_pruned"] == 0
    ok_after = pl.read_parquet(old / "images/manifest.parquet").filter(pl.col("status") == "ok")
    assert ok_after.drop("url").equals(ok_before.drop("url"))
    assert ok_after["url"].str.starts_with("raw/").all()
    assert all((old / path).is_file() for path in ok_after["path"])
    assert _meta(rebuilt, "features/item_embeddings")["images_encoded"] == 0
    assert not [p for folder in PUBLISHED for p in (old / folder).rglob("*.parquet") if _holding(p, _lake_paths(old))]
