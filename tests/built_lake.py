"""The whole graph built on a tiny lake: the run config and resources tests build it with."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

import assets
from resources import EncoderResource, ImageFetcherResource, default_resources
from tests.conftest import build_tiny_lake

RUN_CONFIG = {"ops": {
    "models__image_tower": {"config": {"epochs": 3, "batch_size": 32, "heldout_pairs": 24}},
    "silver__interactions": {"config": {"n_users": 150}},
    "models__als": {"config": {"factors": 8, "iterations": 6, "curve_every": 3, "num_threads": 1}},
    "models__two_tower": {"config": {"dim": 32, "hidden": 64, "batch_size": 64, "uniform_negatives": 64,
                                     "max_epochs": 3, "patience": 2}},
    "gold__evaluation": {"config": {"similar_queries": 60}},
}}
# What build_all materializes: every asset but the partitioned catalog shards (tests/test_embedding_shards.py).
ALL_ASSETS = [*(a for a in dg.load_assets_from_package_module(assets) if a.partitions_def is None),
              *dg.load_asset_checks_from_package_module(assets)]


def offline_resources(lake: Path) -> dict:
    return {**default_resources(str(lake)), "image_fetcher": ImageFetcherResource(offline=True),
            "encoder": EncoderResource(threads=1)}


def build_published_lake(root: Path) -> Path:
    """A tiny lake with every asset materialized (tables, index, models, warehouse)."""
    lake = build_tiny_lake(root)
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG)
    assert result.success
    return lake


def full_rebuild_beside(lake: Path, reference: Path, pinned: Iterable[str], run_config: dict):
    """Build ``reference`` from scratch from ``lake``'s raw files and its ``pinned`` lake paths (models,
    snapshots, logs: what a nightly reuses rather than derives): what a full rebuild with the same
    pinned inputs computes."""
    shutil.copytree(lake / "raw", reference / "raw")
    for rel in pinned:
        (reference / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (lake / rel).is_dir() else shutil.copy)(lake / rel, reference / rel)
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(reference), run_config=run_config)
    assert result.success
    return result
