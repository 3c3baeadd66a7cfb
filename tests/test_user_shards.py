"""User shards: the user lists built shard by shard (a stable hash of user_id) and merged equal the
unsharded build, and the unsharded build refreshing from the merged shards carries every list over."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.embeddings.shards import shard_names
from recsys.gold import UserRecommendationsSettings, UserSpace, build_user_recommendations
from recsys.gold.list_refresh import PreviousLists, file_digest
from recsys.gold.user_shards import (merge_shard_files, merge_states, shard_history, shard_vectors, user_shard_of,
                                     users_in_shard)
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
