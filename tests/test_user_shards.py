"""User shards: the user lists built shard by shard (a stable hash of user_id) and merged equal the
unsharded build, and the unsharded build refreshing from the merged shards carries every list over
(in the core, and through the assets on the tiny lake)."""

from __future__ import annotations

import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets import keys
from assets.list_state import USER_SHARDS
from assets.user_shards import user_recommendation_shards
from recsys.embeddings.shards import shard_names
from recsys.gold import UserRecommendationsSettings, UserSpace, build_user_recommendations
from recsys.gold.list_refresh import PreviousLists, file_digest
from recsys.gold.user_shards import (merge_shard_files, merge_states, shard_history, shard_vectors, user_shard_of,
                                     users_in_shard)
from tests.built_lake import ALL_ASSETS, offline_resources
from tests.test_tables_gold import spaces_for, world  # noqa: F401  (the module's world fixture)

SETTINGS = UserRecommendationsSettings(k=10, candidates_per_source=20, users_per_block=3)


def test_every_user_is_in_exactly_one_shard_whatever_the_order():
    ids = [f"u{i:06d}" for i in range(4000)]
    shards = user_shard_of(ids, 8)
    assert np.bincount(shards, minlength=8).min() > 400            # 500 expected per shard
    np.testing.assert_array_equal(user_shard_of(ids[::-1], 8)[::-1], shards)


def test_shard_builds_merged_equal_the_unsharded_build(world, tmp_path):
    history, products = world["history"], world["products"]
    tower, als = spaces_for(world)

    def build(name, shard_users=None, previous=None):
        users = np.arange(history.n_users) if shard_users is None else shard_users
        spaces = {n: UserSpace(shard_vectors(s.users, users), s.items) for n, s in (("tower", tower), ("als", als))}
        return build_user_recommendations(products, shard_history(history, users), world["content"], world["search"],
                                          tower=spaces["tower"], als=spaces["als"], config=SETTINGS, build_id=name,
                                          output=tmp_path / f"{name}.parquet", previous=previous)

    whole = build("whole")
    shards = [build(f"shard{name}", users_in_shard(history, name, 4)) for name in shard_names(4)]
    assert sum(s.state.query_ids.__len__() for s in shards) == history.n_users
    merge_shard_files([s.path for s in shards], tmp_path / "merged.parquet")
    merged = pl.read_parquet(tmp_path / "merged.parquet")
    expected = whole.read()
    assert merged.drop("build_id").equals(expected.drop("build_id"))
    state = merge_states([s.state for s in shards])
    assert state.query_ids == whole.state.query_ids and state.query_hashes == whole.state.query_hashes
    for name, proposals in whole.state.ranked.items():
        np.testing.assert_array_equal(state.ranked[name].positions, proposals.positions)
    # The unsharded build refreshes from the merged shards: nothing changed, every list is carried.
    state.table_digest = file_digest(tmp_path / "merged.parquet")
    published = build("published", previous=PreviousLists.open(tmp_path / "merged.parquet", state))
    assert published.plan.counts["carried_over"] == history.n_users
    assert published.read().equals(merged.cast(dict(expected.schema)))
    with pytest.raises(ValueError, match="unknown shard"):
        users_in_shard(history, "4", 4)


@pytest.mark.slow
def test_a_backfill_of_every_user_shard_then_the_table_equals_the_unsharded_build(published_lake, tmp_path):
    """The user shards (one run over every partition) then gold/user_recommendations: the table carries
    every shard's lists over and equals the unsharded build, list for list."""
    lake = tmp_path / "lake"
    shutil.copytree(published_lake, lake)
    table_path = lake / "gold" / "user_recommendations.parquet"
    unsharded = pl.read_parquet(table_path)
    every_asset = [*ALL_ASSETS, user_recommendation_shards]
    names = USER_SHARDS.get_partition_keys()
    shards = dg.materialize(every_asset, resources=offline_resources(lake), selection=[keys.USER_RECOMMENDATION_SHARDS],
                            tags={"dagster/asset_partition_range_start": names[0],
                                  "dagster/asset_partition_range_end": names[-1]})
    assert shards.success
    files = sorted((lake / "shards" / "user_recommendations").glob("*.parquet"))
    assert [f.stem for f in files] == names
    assert sum(pl.read_parquet(f).height for f in files) == unsharded.height

    published = dg.materialize(every_asset, resources=offline_resources(lake), selection=[keys.USER_RECOMMENDATIONS])
    (materialization,) = published.asset_materializations_for_node("gold__user_recommendations")
    assert materialization.metadata["lists_recomputed"].value == 0
    assert materialization.metadata["lists_carried_over"].value == unsharded["user_id"].n_unique()
    table = pl.read_parquet(table_path)
    # The same lists and reasons; scores are computed in matrix products over other users than the
    # unsharded build's, so they agree up to float noise.
    keys_ = ["user_id", "rank", "product_id", "reason", "model"]
    assert table.select(keys_).equals(unsharded.select(keys_))
    assert (table["score"] - unsharded["score"]).abs().max() < 1e-5
    assert set(table["build_id"]) == {shards.run_id}
    assert all(check.passed for check in published.get_asset_check_evaluations())
    assert not list((lake / "shards" / "user_recommendations").glob(".*"))       # the merged file is gone
