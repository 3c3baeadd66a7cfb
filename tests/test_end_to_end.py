"""The whole graph on a tiny lake, from raw CSVs and images to the warehouse and the evaluation."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from recsys.evaluation.metrics import ndcg_at_k, ranked_lists, relevance_sets
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources
from tests.conftest import build_tiny_lake

GOLD = ("products", "similar_items", "user_recommendations", "style_recommendations", "builds")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    lake = build_tiny_lake(tmp_path_factory.mktemp("e2e") / "lake")
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG)
    return lake, result


@pytest.mark.slow
def test_every_asset_materializes_and_every_check_passes(built):
    lake, result = built
    assert result.success
    failed = [(e.asset_key.to_user_string(), e.check_name, e.severity) for e in result.get_asset_check_evaluations()
              if not e.passed]
    # The tiny lake's 150 simulated users are too few for model-quality warnings (WARN) to mean anything;
    # every integrity check (ERROR) must pass.
    assert not [f for f in failed if f[2] == dg.AssetCheckSeverity.ERROR], failed
    for name in GOLD:
        assert (lake / "gold" / f"{name}.parquet").exists(), name


@pytest.mark.slow
def test_tables_answer_the_readme_queries(built):
    lake, _ = built
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    products = con.sql("SELECT count(*) FROM products").pl().item()
    similar = con.sql("SELECT product_id, rank, similar_product_id FROM similar_items").pl()
    assert similar["product_id"].n_unique() == products
    assert similar["rank"].min() == 1 and (similar["product_id"] != similar["similar_product_id"]).all()
    user = con.sql("SELECT user_id FROM user_recommendations LIMIT 1").pl().item()
    mine = con.sql(f"SELECT product_id, reason FROM user_recommendations WHERE user_id = '{user}' ORDER BY rank").pl()
    assert mine.height > 0 and mine["reason"].null_count() == 0
    assert con.sql("SELECT count(*) FROM style_recommendations").pl().item() > 0
    metrics = con.sql("SELECT * FROM evaluation_metrics").pl()
    assert {"random", "popularity", "tfidf", "text", "image", "fused_default", "fused_tuned", "als", "two_tower",
            "hybrid"} <= set(metrics["model"])


@pytest.mark.slow
def test_every_metric_can_be_recomputed_from_rankings_and_ground_truth(built):
    lake, _ = built
    metrics = pl.read_parquet(lake / "gold" / "evaluation" / "metrics.parquet")
    rankings = pl.read_parquet(lake / "gold" / "evaluation" / "rankings.parquet")
    truth = pl.read_parquet(lake / "gold" / "evaluation" / "ground_truth.parquet")
    assert {"user_recommendations", "similar_items"} == set(metrics["task"])
    assert {"all", "cold_start_users", "co_interaction", "attributes"} <= set(metrics["slice"])
    for model in ("hybrid", "two_tower"):
        lists = ranked_lists(rankings.filter(pl.col("model") == model, pl.col("task") == "user_recommendations"))
        relevant = relevance_sets(truth.filter(pl.col("task") == "user_recommendations", pl.col("slice") == "all"))
        recomputed = np.mean([ndcg_at_k(lists.get(q, []), rel, 10) for q, rel in relevant.items()])
        stored = metrics.filter(pl.col("model") == model, pl.col("task") == "user_recommendations",
                                pl.col("slice") == "all", pl.col("metric") == "ndcg", pl.col("k") == 10)["value"].item()
        assert recomputed == pytest.approx(stored)
    assert (lake / "gold" / "evaluation" / "report.md").read_text().startswith("# Evaluation report")


@pytest.mark.slow
def test_tuning_never_reads_the_test_split(built):
    lake, _ = built
    from assets.evaluation import hybrid_weights

    before = json.loads((lake / "models" / "hybrid_weights.json").read_text())
    split_path = lake / "features" / "interaction_split.parquet"
    split = pl.read_parquet(split_path)
    products = split["product_id"].unique().sort()
    rng = np.random.default_rng(1)
    scrambled = split.with_columns(product_id=pl.when(pl.col("split") == "test").then(
        pl.Series(products.gather(rng.integers(0, products.len(), split.height)))).otherwise(pl.col("product_id")))
    scrambled.write_parquet(split_path)
    try:
        again = dg.materialize([hybrid_weights], resources=offline_resources(lake), run_config={})
        assert again.success
        after = json.loads((lake / "models" / "hybrid_weights.json").read_text())
        for tuned in ("user_recommendations", "similar_items", "fusion"):
            assert after[tuned] == before[tuned]
            assert after["validation"][tuned]["tuned"] == pytest.approx(before["validation"][tuned]["tuned"])
    finally:
        split.write_parquet(split_path)
