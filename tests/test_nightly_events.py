"""A day of new events rebuilds only the lists of the users who had them, exactly.

A synthetic lake with real event files is built, then a day of events from five shoppers (one of
them new) lands in raw/events/ and the graph is built again. Popularity and co-purchases stay
pinned with the models (recsys.gold.behaviour), so the other users' lists are carried over; the
reference is a full rebuild in a fresh lake that starts from the same pinned models and snapshot.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from recsys.synthetic import SyntheticLakeSettings, generate_lake
from recsys.synthetic.nightly import add_day_of_events
from tests.built_lake import ALL_ASSETS, full_rebuild_beside, offline_resources
from tests.test_incremental_builds import CONFIG, PINNED, _meta, assert_lists_equal

PINNED_HERE = [rel for rel in PINNED if not rel.startswith("silver/interactions")]   # real events: rebuilt from raw


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly_events")
    lake = root / "lake"
    generate_lake(lake, SyntheticLakeSettings(products=240, users=150, seed=3, workers=1, image_size=(48, 64)))
    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=CONFIG).success
    day = add_day_of_events(lake, rows=40, active_users=5, new_user_share=0.2, seed=7)
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=CONFIG)
    assert result.success
    reference = root / "reference"
    full_rebuild_beside(lake, reference, PINNED_HERE, CONFIG)
    return lake, reference, day, result


@pytest.mark.slow
def test_only_the_shoppers_of_the_day_get_new_lists(nightly):
    lake, _, day, result = nightly
    shoppers = pl.read_parquet(lake / "raw" / "events" / day.file)["user_id"].unique()
    assert shoppers.len() == day.active_users == 5
    users = _meta(result, "gold/user_recommendations")
    assert users["popularity_and_copurchases"] == "pinned with the models"
    assert users["lists_recomputed"] == 5, users["refresh"]
    assert users["lists_carried_over"] == users["users"] - 5
    similar = _meta(result, "gold/similar_items")
    assert similar["lists_recomputed"] == 0 and similar["popularity_and_copurchases"] == "pinned with the models"
    table = pl.read_parquet(lake / "gold" / "user_recommendations.parquet")
    assert set(shoppers.to_list()) <= set(table["user_id"].to_list())      # the new shopper too


@pytest.mark.slow
def test_the_nightly_lists_equal_a_full_rebuild_with_the_same_pinned_snapshot(nightly):
    lake, reference, *_ = nightly
    for table, key, item in (("similar_items", "product_id", "similar_product_id"),
                             ("user_recommendations", "user_id", "product_id")):
        mine, theirs = (pl.read_parquet(root / "gold" / f"{table}.parquet") for root in (lake, reference))
        assert_lists_equal(mine, theirs, key, item)
