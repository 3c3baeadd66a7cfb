"""Helpers shared by test modules: lakes written for one stage's assets, and what a run reported."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from assets.interactions import interaction_split, silver_interactions
from assets.models import als_model, item_tower_vectors_asset, two_tower_model
from recsys.catalog import ingest_catalogs
from recsys.storage import write_parquet_atomic
from resources import default_resources
from tests.conftest import build_tiny_lake
from tests.interaction_fixtures import attribute_embeddings

TWO_TOWER = {"dim": 32, "hidden": 64, "batch_size": 64, "uniform_negatives": 64, "max_epochs": 4, "patience": 2}
# The model assets' run config on a tiny lake (tests/test_models_assets.py, tests/test_model_pinning.py).
MODELS_RUN_CONFIG = {"ops": {
    "silver__interactions": {"config": {"n_users": 150}},
    "models__als": {"config": {"factors": 8, "iterations": 6, "curve_every": 3, "num_threads": 1}},
    "models__two_tower": {"config": TWO_TOWER},
}}
MODEL_ASSETS = [silver_interactions, interaction_split, als_model, two_tower_model, item_tower_vectors_asset]
UPSTREAM_DIM = 16


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def metadata_of(result, key: list[str]) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key))
    return event.materialization.metadata


def with_products(lake: Path) -> pl.DataFrame:
    """silver/products ingested from the lake's raw catalogs, written without running the asset."""
    products = ingest_catalogs(lake / "raw").products
    write_parquet_atomic(products, lake / "silver" / "products.parquet")
    return products


def build_models_lake(lake: Path) -> tuple[Path, pl.DataFrame, dg.ExecuteInProcessResult]:
    """A tiny lake with item embeddings of seeded attribute vectors and the model assets built on it."""
    tiny_lake = build_tiny_lake(lake)
    products = with_products(tiny_lake)
    write_parquet_atomic(attribute_embeddings(products), tiny_lake / "features" / "item_embeddings.parquet")
    result = dg.materialize(MODEL_ASSETS, resources=default_resources(str(tiny_lake)), run_config=MODELS_RUN_CONFIG)
    return tiny_lake, products, result


def write_upstream_fixtures(lake: Path, encoder_version: str = "1") -> None:
    """Files of the contract schemas the upstream stages write (docs/lake.md)."""
    products = pl.read_parquet(lake / "silver" / "products.parquet")
    ids = products["product_id"].to_list()
    rng = np.random.default_rng(0)
    types = products["article_type"].fill_null("?").to_list()
    basis = {t: rng.standard_normal(UPSTREAM_DIM) for t in set(types)}
    fused = np.stack([3 * basis[t] + rng.standard_normal(UPSTREAM_DIM) for t in types]).astype(np.float32)
    fused /= np.linalg.norm(fused, axis=1, keepdims=True)
    with_image = np.arange(len(ids)) % 3 != 0
    vec = pl.Array(pl.Float32, UPSTREAM_DIM)
    pl.DataFrame({
        "product_id": ids,
        "image_vector": pl.Series([v if ok else None for v, ok in zip(fused.tolist(), with_image)], dtype=vec),
        "text_vector": pl.Series(fused.tolist(), dtype=vec), "fused_vector": pl.Series(fused.tolist(), dtype=vec),
        "has_image": with_image, "has_text": [True] * len(ids), "encoder": ["test-local"] * len(ids),
        "encoder_version": [encoder_version] * len(ids), "content_key": products["content_hash"],
    }).write_parquet(_mkdir(lake / "features") / "item_embeddings.parquet")
    pl.DataFrame({
        "product_id": [p for p, ok in zip(ids, with_image) if ok], "position": 0,
        "url": [f"raw/myntra/images/{p}.jpg" for p, ok in zip(ids, with_image) if ok], "status": "ok",
        "sha256": [f"{i:064x}" for i, ok in enumerate(with_image) if ok],
        "path": [f"images/{i:064x}"[:10] + f"/{i:064x}.jpg" for i, ok in enumerate(with_image) if ok],
    }).write_parquet(_mkdir(lake / "images") / "manifest.parquet")
    # 40 users who each stick to one article type; the last one only clicks once.
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows = []
    for u in range(40):
        pool = [i for i, t in enumerate(types) if t == types[(7 * u) % len(types)]]
        for j, item in enumerate(rng.choice(pool, size=min(len(pool), 1 if u == 39 else 5), replace=False)):
            split = "train" if j < 3 else ("validation" if j == 3 else "test")
            for event in ("click", "purchase") if j % 2 == 0 else ("click",):
                rows.append((f"sim_u{u:06d}", ids[item], event, 1.0, start + timedelta(hours=u * 10 + j), split))
    pl.DataFrame(rows, schema={"user_id": pl.String, "product_id": pl.String, "event": pl.String, "value": pl.Float64,
                               "ts": pl.Datetime("us", "UTC"), "split": pl.String}, orient="row") \
        .write_parquet(lake / "features" / "interaction_split.parquet")
    als = _mkdir(lake / "models" / "als")
    warm = sorted({r[1] for r in rows})
    users = sorted({r[0] for r in rows})[:30]          # ALS knows only some users
    pl.DataFrame({"user_id": users, "factors": pl.Series(rng.standard_normal((len(users), 8)).tolist(),
                                                         dtype=pl.Array(pl.Float32, 8))}).write_parquet(als / "users.parquet")
    pl.DataFrame({"product_id": warm, "factors": pl.Series(rng.standard_normal((len(warm), 8)).tolist(),
                                                           dtype=pl.Array(pl.Float32, 8))}).write_parquet(als / "items.parquet")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts itself."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
