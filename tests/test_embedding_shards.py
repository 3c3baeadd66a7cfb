"""Catalog shards: a stable split of the products, one partition of images/manifest_shards and
features/item_embedding_shards each; shard runs go side by side in their own processes, and
features/item_embeddings reuses every vector they encoded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml

from assets import keys
from assets.catalog_shards import SHARD_COUNT, SHARDS_PER_RUN
from assets.embedding_shards import item_embedding_shards
from recsys.embeddings.shards import products_in_shard, shard_names, shard_of
from recsys.vectors import vector_matrix
from tests.conftest import REPO
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources

UPSTREAM = [keys.SILVER_PRODUCTS, keys.SILVER_QUARANTINE, keys.PRODUCT_CHANGES, keys.IMAGE_MANIFEST, keys.IMAGE_TOWER]


def test_every_product_is_in_exactly_one_shard_whatever_the_order():
    ids = pl.Series([f"myntra:{i}" for i in range(2000)])
    shards = shard_of(ids, 8)
    assert set(shards.tolist()) == set(range(8))
    assert np.bincount(shards).min() > 150                      # balanced enough: 250 expected per shard
    np.testing.assert_array_equal(shard_of(ids.reverse(), 8)[::-1], shards)
    products = pl.DataFrame({"product_id": ids, "n": range(2000)})
    parts = [products_in_shard(products, name, 8) for name in shard_names(8)]
    assert sorted(pl.concat(parts)["product_id"].to_list()) == sorted(ids.to_list())
    with pytest.raises(ValueError, match="unknown shard"):
        products_in_shard(products, "8", 8)


def test_shard_names_sort_like_numbers():
    assert shard_names(3) == ["0", "1", "2"]
    assert shard_names(12)[:3] == ["00", "01", "02"] and shard_names(12) == sorted(shard_names(12))
    with pytest.raises(ValueError):
        shard_names(0)


def test_a_backfill_of_every_shard_is_two_runs_side_by_side():
    policy = item_embedding_shards.backfill_policy
    assert policy.max_partitions_per_run == SHARDS_PER_RUN and SHARD_COUNT / SHARDS_PER_RUN == 2
    assert yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())["run_queue"]["max_concurrent_runs"] == 2


def _shard_run(lake, home, first: str, last: str) -> subprocess.Popen:
    """One embed_shards run over a range of shards, as a backfill starts it: the CLI in its own process
    (with its own instance: two processes creating one SQLite instance at once race on its schema)."""
    home.mkdir()
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-j", "embed_shards",
         "--tags", json.dumps(tags)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RECSYS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"})


def _vectors(table: pl.DataFrame) -> dict[str, np.ndarray]:
    return {column: np.nan_to_num(vector_matrix(table[column]))
            for column in ("image_vector", "text_vector", "fused_vector")}


@pytest.mark.slow
def test_shard_runs_side_by_side_cover_the_catalog_and_item_embeddings_reuses_them(tiny_lake, tmp_path):
    resources = offline_resources(tiny_lake)
    tower_config = {"ops": {"models__image_tower": RUN_CONFIG["ops"]["models__image_tower"]}}
    assert dg.materialize(ALL_ASSETS, resources=resources, run_config=tower_config, selection=UPSTREAM).success
    assert dg.materialize(ALL_ASSETS, resources=resources, selection=[keys.ITEM_EMBEDDINGS]).success
    unsharded = pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet")
    (tiny_lake / "features" / "item_embeddings.parquet").unlink()       # nothing left to reuse but the shards

    names = shard_names(SHARD_COUNT)
    half = SHARD_COUNT // 2
    runs = [_shard_run(tiny_lake, tmp_path / "home_a", names[0], names[half - 1]),       # two runs at once
            _shard_run(tiny_lake, tmp_path / "home_b", names[half], names[-1])]
    errors = [run.communicate(timeout=600)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [e[-2000:] for e in errors]
    shards = [pl.read_parquet(tiny_lake / "features" / "item_embedding_shards" / f"{s}.parquet") for s in names]
    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    for shard, table in zip(names, shards):
        assert set(table["product_id"]) == set(products_in_shard(products, shard, SHARD_COUNT)["product_id"])
        # Each run cached its shards' images first (images/manifest_shards), and the embedding shards read them.
        assert (tiny_lake / "images" / "manifests" / f"{shard}.parquet").is_file()

    result = dg.materialize(ALL_ASSETS, resources=resources, selection=[keys.ITEM_EMBEDDINGS])
    (materialization,) = result.asset_materializations_for_node("features__item_embeddings")
    assert materialization.metadata["texts_encoded"].value == 0
    assert materialization.metadata["images_encoded"].value == 0
    resharded = pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet")
    assert resharded["product_id"].to_list() == unsharded["product_id"].to_list()
    assert resharded["has_image"].equals(unsharded["has_image"]) and resharded["has_text"].equals(unsharded["has_text"])
    for column, vectors in _vectors(resharded).items():
        # The same vectors up to the batch a text was encoded in (bfloat16 autocast pads per batch).
        cosines = (vectors * _vectors(unsharded)[column]).sum(axis=1)
        norms = np.linalg.norm(vectors, axis=1)
        assert np.all(cosines[norms > 0] > 0.999), column
