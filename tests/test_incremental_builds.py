"""A small catalog change rebuilds only what it must, and the tables equal a full rebuild.

The lake is built, 2 styles are added, 2 changed and 2 removed (~3% of the tiny catalog), and the
graph is built again. The reference is a full rebuild of the changed catalog in a fresh lake that
starts from the same pinned models and the same event log (both are history, not derived data:
see recsys/retraining.py and recsys/interactions/build.py).
"""

from __future__ import annotations

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from recsys.synthetic.catalog_edits import change_styles
from tests.conftest import build_tiny_lake
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, full_rebuild_beside, offline_resources

PINNED = ["models/image_tower", "models/als", "models/two_tower", "models/hybrid_weights.json", "state/hybrid_weights",
          "state/list_behaviour",
          "silver/interactions.parquet", "silver/interactions_simulator.json"]
# Texts are encoded in batches of whatever is new: padding and (on CPUs with it) bf16 matmuls make a
# vector differ from a whole-catalog encoding by ~1e-4, and a list's min-max scaling can magnify that in
# its scores, so vectors and scores compare within 5e-3.
VECTOR_TOLERANCE = 5e-3
SCORE_TOLERANCE = 5e-3
# With 150 simulated users, 6 changed products move ~14% of the validation pairs (the sample moves far
# less): the models and weights are pinned here with a looser drift bound, as a user could configure.
# And with ~190 products, 100 candidates per source would put every product in every list's candidates.
PINNED_STAGES = ("models__image_tower", "models__als", "models__two_tower", "models__hybrid_weights",
                 "gold__evaluation")
CONFIG = {"ops": {**RUN_CONFIG["ops"], **{
    op: {"config": {**RUN_CONFIG["ops"].get(op, {}).get("config", {}), "retrain": {"max_drift": 0.5}}}
    for op in PINNED_STAGES},
    "gold__similar_items": {"config": {"k": 10, "candidates_per_source": 10}},
    # 150 users in blocks of 16: refreshed, searched and carried-over lists meet across blocks
    "gold__user_recommendations": {"config": {"k": 10, "candidates_per_source": 10, "users_per_block": 16}}}}


def _meta(result, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    lake = build_tiny_lake(root / "lake")
    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=CONFIG).success
    edit = change_styles(lake)
    incremental = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=CONFIG)
    assert incremental.success

    reference = root / "reference"
    full = full_rebuild_beside(lake, reference, PINNED, CONFIG)
    return lake, reference, edit, incremental, full


def assert_lists_equal(a: pl.DataFrame, b: pl.DataFrame, key: str, item: str) -> None:
    """Same lists: per (key, rank) the same score within tolerance, and the same item unless its
    score ties (within tolerance) with a neighbour's, where float noise may swap two items."""
    joined = a.join(b, on=[key, "rank"], how="full", suffix="_ref", coalesce=True)
    assert joined[item].null_count() == 0 and joined[f"{item}_ref"].null_count() == 0, "lists differ in length"
    assert (joined["score"] - joined["score_ref"]).abs().max() < SCORE_TOLERANCE
    differing = joined.filter(pl.col(item) != pl.col(f"{item}_ref"))
    for row in differing.iter_rows(named=True):
        scores = a.filter(pl.col(key) == row[key])["score"].to_numpy()
        near = np.abs(scores - row["score"]) < SCORE_TOLERANCE
        assert near.sum() >= 2, f"{row[key]} rank {row['rank']}: {row[item]} vs {row[f'{item}_ref']}"
    for column in [c for c in ("reason", "model") if c in a.columns]:
        same = joined.filter(pl.col(item) == pl.col(f"{item}_ref"))
        assert (same[column] == same[f"{column}_ref"]).all(), column


@pytest.mark.slow
def test_the_change_rebuilds_only_what_it_must(lakes):
    lake, _, edit, result, _ = lakes
    for key in ("models/image_tower", "models/als", "models/two_tower", "models/hybrid_weights"):
        assert _meta(result, key)["retrained"] is False, (key, _meta(result, key)["retrain_decision"])
    changes = _meta(result, "silver/product_changes")
    assert (changes["new"], changes["changed"], changes["removed"]) == (2, 2, 2)
    # The 4 new or changed texts are encoded once, by features/text_vectors; the item table reuses them.
    assert _meta(result, "features/text_vectors")["texts_encoded"] == 4
    embeddings = _meta(result, "features/item_embeddings")
    assert embeddings["texts_encoded"] == 0 and embeddings["images_encoded"] <= 2
    for key in ("gold/similar_items", "gold/user_recommendations"):
        meta = _meta(result, key)
        assert meta["lists_carried_over"] > 0 and meta["lists_recomputed"] > 0, (meta["outcome"], meta["refresh"])
        # lists that lost or gained a candidate are re-ranked from their kept proposals, not searched again
        assert meta["lists_reranked"] > 0 and meta["lists_searched"] < meta["lists_recomputed"], meta["refresh"]
    builds = pl.read_parquet(lake / "gold" / "builds.parquet").sort("started_at")
    last = builds.row(-1, named=True)
    assert (last["new_products"], last["changed_products"], last["removed_products"]) == (2, 2, 2)
    stages = {s["stage"]: s for s in last["stages"]}
    assert "pinned" in stages["models__two_tower"]["outcome"] and stages["models__two_tower"]["seconds"] >= 0
    assert "carried over" in stages["gold__user_recommendations"]["outcome"]
    assert "carried over" in stages["gold__similar_items"]["outcome"]


@pytest.mark.slow
def test_the_tables_equal_a_full_rebuild_of_the_changed_catalog(lakes):
    lake, reference, *_ = lakes
    drop = ["build_id", "ingested_at"]
    products = pl.read_parquet(lake / "gold" / "products.parquet").drop(drop, strict=False)
    assert products.equals(pl.read_parquet(reference / "gold" / "products.parquet").drop(drop, strict=False))
    for rel in ("features/item_embeddings", "features/item_tower_vectors"):
        mine, theirs = (pl.read_parquet(root / f"{rel}.parquet").sort("product_id") for root in (lake, reference))
        assert mine["product_id"].to_list() == theirs["product_id"].to_list()
        column = "fused_vector" if "embeddings" in rel else "vector"
        np.testing.assert_allclose(np.stack(mine[column].to_numpy()), np.stack(theirs[column].to_numpy()), atol=VECTOR_TOLERANCE)
    for table, key, item in (("similar_items", "product_id", "similar_product_id"),
                             ("user_recommendations", "user_id", "product_id"),
                             ("style_recommendations", "style", "product_id")):
        mine, theirs = (pl.read_parquet(root / "gold" / f"{table}.parquet") for root in (lake, reference))
        if table == "style_recommendations":
            mine, theirs = (t.with_columns(style=pl.concat_str("style", pl.col("gender").fill_null("any"),
                                                               separator="/")).drop("gender") for t in (mine, theirs))
        assert_lists_equal(mine, theirs, key, item)


@pytest.mark.slow
def test_a_removed_product_is_gone_everywhere(lakes):
    lake, _, edit, *_ = lakes
    removed = set(edit.removed)
    seen = {
        "gold/products": set(pl.read_parquet(lake / "gold/products.parquet")["product_id"]),
        "gold/similar_items": set(pl.read_parquet(lake / "gold/similar_items.parquet")
                                  .select(pl.concat_list("product_id", "similar_product_id").explode()).to_series()),
        "gold/user_recommendations": set(pl.read_parquet(lake / "gold/user_recommendations.parquet")["product_id"]),
        "gold/style_recommendations": set(pl.read_parquet(lake / "gold/style_recommendations.parquet")["product_id"]),
        "features/item_embeddings": set(pl.read_parquet(lake / "features/item_embeddings.parquet")["product_id"]),
        "features/item_tower_vectors": set(pl.read_parquet(lake / "features/item_tower_vectors.parquet")["product_id"]),
        "silver/interactions": set(pl.read_parquet(lake / "silver/interactions.parquet")["product_id"]),
    }
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        for table, column in (("products", "product_id"), ("similar_items", "similar_product_id"),
                              ("user_recommendations", "product_id")):
            seen[f"warehouse.{table}"] = set(con.sql(f"SELECT {column} FROM {table}").pl().to_series())
    finally:
        con.close()
    for where, ids in seen.items():
        assert not removed & ids, f"removed products still in {where}"
    assert set(edit.new) <= seen["gold/products"] and set(edit.new) <= seen["features/item_embeddings"]


@pytest.mark.slow
def test_rebuilding_a_finished_build_changes_no_table(lakes):
    lake, *_ = lakes
    tables = ("products", "similar_items", "user_recommendations", "style_recommendations")
    before = {t: pl.read_parquet(lake / "gold" / f"{t}.parquet").drop("build_id") for t in tables}
    again = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=CONFIG)
    assert again.success
    for key in ("gold/similar_items", "gold/user_recommendations"):
        assert _meta(again, key)["lists_recomputed"] == 0, key
    for table in tables:
        after = pl.read_parquet(lake / "gold" / f"{table}.parquet").drop("build_id")
        assert after.equals(before[table]), table
