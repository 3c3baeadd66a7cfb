"""The index and table assets in-process on a tiny lake, upstream outputs written as contract fixtures."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets import keys
from assets.catalog import silver_catalog
from assets.index import faiss_index
from assets.tables import (
    builds,
    gold_products,
    similar_items,
    style_recommendations,
    user_recommendations,
    warehouse_duckdb,
)
from recsys import warehouse
from recsys.gold import queries as sql
from recsys.index import ItemIndex
from recsys.interactions import personas
from resources import default_resources
from tests.helpers import write_upstream_fixtures

TABLE_ASSETS = [faiss_index, gold_products, similar_items, user_recommendations, style_recommendations, builds,
                warehouse_duckdb]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny lake with silver products (real ingestion), upstream fixtures, and every table asset built once."""
    from tests.conftest import build_tiny_lake

    lake = build_tiny_lake(tmp_path_factory.mktemp("tables") / "lake")
    assert dg.materialize([silver_catalog], resources=default_resources(str(lake))).success
    write_upstream_fixtures(lake)
    result = dg.materialize(TABLE_ASSETS, resources=default_resources(str(lake)))
    return lake, result


def test_tables_materialize_with_every_check_passing(built):
    lake, result = built
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"ann_recall": True, "every_vector_indexed": True, "every_product_listed": True,
                      "no_self_or_broken_ranking": True, "every_user_listed": True, "no_owned_or_broken_ranking": True,
                      "every_style_listed": True, "readme_queries": True}
    products = pl.read_parquet(lake / "gold" / "products.parquet")
    similar = pl.read_parquet(lake / "gold" / "similar_items.parquet")
    users = pl.read_parquet(lake / "gold" / "user_recommendations.parquet")
    styles = pl.read_parquet(lake / "gold" / "style_recommendations.parquet")
    assert set(similar["product_id"]) == set(products["product_id"])
    assert users["user_id"].n_unique() == 40
    assert set(styles["style"]) == set(personas.PERSONAS)
    assert set(styles["gender"].drop_nulls()) == set(personas.SHOPPER_GENDERS)
    # The cold user (one click, unknown to ALS) is served a full list, from content and popularity.
    cold = users.filter(pl.col("user_id") == "sim_u000039")
    assert cold.height == 50 and set(cold["model"]) == {"hybrid"}
    assert set(similar["build_id"]) == {result.run_id} == set(users["build_id"])
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert {"coverage", "score_distribution", "sample", "reasons"} <= set(meta[keys.SIMILAR_ITEMS])
    assert meta[keys.SIMILAR_ITEMS]["coverage"].value == 1.0
    assert meta[keys.FAISS_INDEX]["kind"].value == "flat"
    names = set(products["name"].drop_nulls().str.slice(0, 20))
    assert any(name in meta[keys.SIMILAR_ITEMS]["sample"].value for name in names)
    assert products.filter(pl.col("has_image"))["image_path"].null_count() == 0


def test_index_is_saved_with_product_ids_and_vector_version(built):
    lake, _ = built
    index = ItemIndex.load(lake / "models" / "faiss_index")
    assert index.manifest.vectors.model == "test-local" and index.manifest.vectors.version == "1"
    products = pl.read_parquet(lake / "silver" / "products.parquet")["product_id"].to_list()
    assert sorted(index.ids.product_ids.tolist()) == sorted(products)


def test_warehouse_answers_the_readme_queries(built):
    lake, _ = built
    con = warehouse.connect_readonly(lake / "warehouse.duckdb")
    try:
        products = con.sql("SELECT product_id, gender FROM products WHERE gender IS NOT NULL AND price IS NOT NULL "
                           "ORDER BY product_id LIMIT 1").fetchall()[0]
        similar = con.sql(sql.SIMILAR_ITEMS, params=[products[0], 10]).pl()
        assert similar["rank"].to_list() == list(range(1, 11)) and similar["reason"].null_count() == 0
        cheap = con.sql(sql.SIMILAR_SAME_GENDER_UNDER_PRICE, params=[products[0], 1e9]).pl()
        assert (cheap["gender"] == products[1]).all()
        assert con.sql(sql.USER_RECOMMENDATIONS, params=["sim_u000039", 5]).pl().height == 5
        formal = con.sql(sql.STYLE_RECOMMENDATIONS, params=["formal", "Men", 5]).pl()
        assert formal.height == 5 and formal["reason"].str.contains("formal").all()
        tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables == {"products", "similar_items", "user_recommendations", "style_recommendations", "builds"}
    finally:
        con.close()


def test_rebuild_records_reuse_and_a_failed_build_leaves_the_old_tables(built):
    lake, first = built
    resources = default_resources(str(lake))
    # Rebuild only the similar items, with other weights (so every list is recomputed): builds says
    # which tables were recomputed and which reused.
    other_weights = {"ops": {"gold__similar_items": {"config": {"weights": {"content": 1.0, "popularity": 0.2}}}}}
    second = dg.materialize([similar_items, builds, warehouse_duckdb], resources=resources, run_config=other_weights,
                            selection=[keys.SIMILAR_ITEMS, keys.BUILDS, keys.WAREHOUSE])
    assert second.success
    history = pl.read_parquet(lake / "gold" / "builds.parquet").sort("started_at")
    assert history["build_id"].to_list() == [first.run_id, second.run_id]
    last = history.row(-1, named=True)
    assert last["recomputed"] == ["similar_items"]
    assert f"user_recommendations@{first.run_id}" in last["reused"]

    # New embeddings (another encoder version) without a rebuilt index: the tables refuse to mix them,
    # the run fails, and readers keep the previous Parquet files and warehouse.
    before = {p.name: p.read_bytes() for p in (lake / "gold").glob("*.parquet")}
    db_before = (lake / "warehouse.duckdb").read_bytes()
    write_upstream_fixtures(lake, encoder_version="2")
    failed = dg.materialize([gold_products, similar_items, user_recommendations, builds, warehouse_duckdb],
                            resources=resources, raise_on_error=False,
                            selection=[keys.SIMILAR_ITEMS, keys.USER_RECOMMENDATIONS, keys.BUILDS, keys.WAREHOUSE])
    assert not failed.success
    errors = [str(e.event_specific_data.error) for e in failed.all_events if e.is_step_failure]
    assert any("IndexMismatchError" in e or "was built for" in e for e in errors)
    assert {p.name: p.read_bytes() for p in (lake / "gold").glob("*.parquet")} == before
    assert (lake / "warehouse.duckdb").read_bytes() == db_before
    # Rebuilding the index for the new vectors makes the tables build again.
    assert dg.materialize([faiss_index, similar_items], resources=resources,
                          selection=[keys.FAISS_INDEX, keys.SIMILAR_ITEMS]).success


def test_gold_products_without_images_or_embeddings(tiny_lake):
    assert dg.materialize([silver_catalog], resources=default_resources(str(tiny_lake))).success
    result = dg.materialize([gold_products], resources=default_resources(str(tiny_lake)))
    assert result.success
    products = pl.read_parquet(tiny_lake / "gold" / "products.parquet")
    assert not products["has_image"].any() and products["image_path"].null_count() == products.height
    assert keys.GOLD_PRODUCTS in {e.asset_key for e in result.get_asset_materialization_events()}


@pytest.mark.slow
def test_tables_on_the_real_interactions_als_and_two_tower(tmp_path):
    """Upstream interactions, split, ALS, two-tower and item tower vectors built by their own assets
    (only the embeddings are a fixture): every signal reaches the tables."""
    from assets.interactions import interaction_split, silver_interactions
    from assets.models import als_model, item_tower_vectors_asset, two_tower_model
    from tests.conftest import build_tiny_lake

    lake = build_tiny_lake(tmp_path / "lake")
    resources = default_resources(str(lake))
    assert dg.materialize([silver_catalog], resources=resources).success
    write_upstream_fixtures(lake)
    for stale in ("features/interaction_split.parquet", "models/als/users.parquet", "models/als/items.parquet"):
        (lake / stale).unlink()
    config = dg.RunConfig({"silver__interactions": {"config": {"n_users": 150}},
                           "models__two_tower": {"config": {"max_epochs": 2, "dim": 16, "hidden": 32}}})
    result = dg.materialize([silver_interactions, interaction_split, als_model, two_tower_model,
                             item_tower_vectors_asset, *TABLE_ASSETS], resources=resources, run_config=config)
    assert result.success
    # Quality checks (WARN) are noise on 150 simulated users; every integrity check (ERROR) must pass.
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR)
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    for key in (keys.SIMILAR_ITEMS, keys.USER_RECOMMENDATIONS):
        assert "| two_tower | 1 |" in meta[key]["signals_used"].value and "| als | 1 |" in meta[key]["signals_used"].value
    users = pl.read_parquet(lake / "gold" / "user_recommendations.parquet")
    split = pl.read_parquet(lake / "features" / "interaction_split.parquet")
    assert set(users["user_id"]) == set(split["user_id"])
    assert users.join(split.select("user_id", "product_id"), on=["user_id", "product_id"]).is_empty()
    reasons = set(users["reason"].str.extract(r"^(\w+ \w+)"))
    assert len(reasons) >= 2
