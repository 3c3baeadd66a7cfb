"""Time-based per-user train / validation / test split, and the cold-start slices.

The unit of the split is the (user, product) *pair*: all events of a pair land in one split,
so no held-out pair was ever seen in training. For each user, pairs are ordered by their first
event (ties by product_id) and cut by position:

- a user with ``n >= 2`` pairs holds out the last ``ceil(n * test_fraction)`` pairs as test and
  the ``floor(n * validation_fraction)`` before them as validation (only while at least one pair
  stays in train); a user with a single pair is train only;
- a seeded sample of ``new_user_fraction`` of the users with more than ``new_user_history``
  pairs plays *new users*: only their first ``new_user_history`` pairs train, the rest is test.
  They make the cold-start-user slice large enough to measure.

Time is respected strictly per user: events of a train pair that happen after the user's first
held-out pair (a later purchase of an earlier click) are dropped from the split, likewise
validation events after the first test pair, so for every user the latest train event is no
later than the first validation event, which is no later than the first test event. Dropped
events are counted in :class:`SplitResult`.

Slices (functions of the split table, so the evaluation computes them the same way):
- :func:`cold_start_users`: users with test pairs and at most ``max_train_items`` train pairs;
- :func:`cold_start_items`: products held out (validation or test) that have no train event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.interactions.schema import SPLIT_SCHEMA
from recsys.stable_hash import stable_hash64

COLD_USER_MAX_TRAIN_ITEMS = 3


@dataclass(frozen=True)
class SplitSettings:
    validation_fraction: float = 0.1
    test_fraction: float = 0.2
    new_user_fraction: float = 0.1
    new_user_history: int = 2
    seed: int = 0

    def __post_init__(self):
        if not (0 <= self.validation_fraction < 1 and 0 < self.test_fraction < 1
                and self.validation_fraction + self.test_fraction < 1):
            raise ValueError("need 0 <= validation_fraction, 0 < test_fraction, and their sum < 1")
        if not 0 <= self.new_user_fraction <= 1 or self.new_user_history < 1:
            raise ValueError("new_user_fraction must be in [0, 1] and new_user_history >= 1")


@dataclass(frozen=True)
class SplitResult:
    frame: pl.DataFrame          # SPLIT_SCHEMA
    dropped_after_cutoff: int    # events of earlier-split pairs that happened after the user's cutoff
    new_users: int               # users truncated to new_user_history train pairs
    seconds: float

    def counts(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.frame.group_by("split").len().sort("split").iter_rows()}


def _uniform(seed: int, user_ids: pl.Series) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per user id: depends on the seed and the id only."""
    return stable_hash64(user_ids.to_list(), salt=f"{seed}:").astype(np.float64) / 2.0 ** 64


def _new_users(pair_counts: pl.DataFrame, config: SplitSettings) -> pl.Series:
    """A seeded sample of the users eligible to play new users.

    Each user's draw depends on the seed and their id alone, so adding or removing other users (or
    events) never changes who plays a new user: nightly builds keep the same split for everyone else.
    """
    eligible = pair_counts.filter(pl.col("n") > config.new_user_history)["user_id"].sort()
    return eligible.filter(pl.Series(_uniform(config.seed, eligible) < config.new_user_fraction))


def split_interactions(interactions: pl.DataFrame, config: SplitSettings | None = None) -> SplitResult:
    """Split silver/interactions (or any frame with user_id, product_id, event, value, ts)."""
    config = config or SplitSettings()
    started = time.perf_counter()
    pairs = (interactions.group_by("user_id", "product_id").agg(first_ts=pl.col("ts").min())
             .sort("user_id", "first_ts", "product_id")
             .with_columns(pos=pl.int_range(pl.len()).over("user_id"), n=pl.len().over("user_id")))
    new_users = _new_users(pairs.select("user_id", "n").unique(), config)
    n = pl.col("n")
    n_test = pl.when(n >= 2).then((n * config.test_fraction).ceil().cast(pl.Int64)).otherwise(0)
    n_val = pl.when(n - n_test >= 2).then(
        pl.min_horizontal((n * config.validation_fraction).floor().cast(pl.Int64), n - n_test - 1)).otherwise(0)
    pairs = pairs.with_columns(n_test=n_test, n_val=n_val).with_columns(
        split=pl.when(pl.col("user_id").is_in(new_users.implode()))
        .then(pl.when(pl.col("pos") < config.new_user_history).then(pl.lit("train")).otherwise(pl.lit("test")))
        .when(pl.col("pos") >= n - pl.col("n_test")).then(pl.lit("test"))
        .when(pl.col("pos") >= n - pl.col("n_test") - pl.col("n_val")).then(pl.lit("validation"))
        .otherwise(pl.lit("train")))
    cutoffs = pairs.group_by("user_id").agg(
        heldout_from=pl.col("first_ts").filter(pl.col("split") != "train").min(),
        test_from=pl.col("first_ts").filter(pl.col("split") == "test").min())
    labelled = (interactions.join(pairs.select("user_id", "product_id", "split"), on=["user_id", "product_id"])
                .join(cutoffs, on="user_id"))
    in_time = (pl.when(pl.col("split") == "train").then(pl.col("ts") <= pl.col("heldout_from").fill_null(pl.col("ts")))
               .when(pl.col("split") == "validation").then(pl.col("ts") <= pl.col("test_from").fill_null(pl.col("ts")))
               .otherwise(True))
    kept = labelled.filter(in_time)
    frame = kept.select(list(SPLIT_SCHEMA)).cast(SPLIT_SCHEMA).sort("user_id", "ts", "product_id", "event")
    return SplitResult(frame=frame, dropped_after_cutoff=labelled.height - kept.height,
                       new_users=new_users.len(), seconds=time.perf_counter() - started)


def cold_start_users(split_df: pl.DataFrame, max_train_items: int = COLD_USER_MAX_TRAIN_ITEMS) -> set[str]:
    """Users with at least one test pair and at most ``max_train_items`` distinct train products."""
    per_user = split_df.group_by("user_id").agg(
        train=pl.col("product_id").filter(pl.col("split") == "train").n_unique(),
        test=(pl.col("split") == "test").sum())
    return set(per_user.filter((pl.col("test") > 0) & (pl.col("train") <= max_train_items))["user_id"].to_list())


def cold_start_items(split_df: pl.DataFrame) -> set[str]:
    """Products with validation or test events and no train event."""
    train = split_df.filter(pl.col("split") == "train")["product_id"].unique()
    heldout = split_df.filter(pl.col("split") != "train")["product_id"].unique()
    return set(heldout.filter(~heldout.is_in(train.implode())).to_list())


def leakage_report(split_df: pl.DataFrame) -> dict[str, int]:
    """Counts that must all be zero: pairs in two splits, and users whose train (validation)
    events are later than their first validation or test (test) event."""
    pairs_in_two = (split_df.group_by("user_id", "product_id").agg(pl.col("split").n_unique())
                    .filter(pl.col("split") > 1).height)
    per_user = split_df.group_by("user_id").agg(
        last_train=pl.col("ts").filter(pl.col("split") == "train").max(),
        first_heldout=pl.col("ts").filter(pl.col("split") != "train").min(),
        last_validation=pl.col("ts").filter(pl.col("split") == "validation").max(),
        first_test=pl.col("ts").filter(pl.col("split") == "test").min())
    return {
        "pairs_in_two_splits": pairs_in_two,
        "users_train_after_heldout": per_user.filter(pl.col("last_train") > pl.col("first_heldout")).height,
        "users_validation_after_test": per_user.filter(pl.col("last_validation") > pl.col("first_test")).height,
    }
