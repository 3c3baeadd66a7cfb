"""The time split: no leakage, the documented cut per user, and cold slices that really are cold."""

from __future__ import annotations

import polars as pl
import pytest

from recsys.interactions import (SPLIT_SCHEMA, SimulatorSettings, SplitSettings, cold_start_items, cold_start_users,
                                 leakage_report, simulate, split_interactions)
from tests.interaction_fixtures import event_frame, synthetic_catalog


@pytest.fixture(scope="module")
def simulated() -> pl.DataFrame:
    return simulate(synthetic_catalog(2000, seed=3), SimulatorSettings(n_users=300, seed=3)).events


@pytest.fixture(scope="module")
def split(simulated):
    return split_interactions(simulated, SplitSettings(seed=1))


def pairs_of(frame: pl.DataFrame, name: str) -> set[tuple[str, str]]:
    return set(frame.filter(pl.col("split") == name).select("user_id", "product_id").unique().iter_rows())


def test_no_leakage(split):
    frame = split.frame
    assert frame.schema == pl.Schema(SPLIT_SCHEMA)
    assert leakage_report(frame) == {"pairs_in_two_splits": 0, "users_train_after_heldout": 0,
                                     "users_validation_after_test": 0}
    train, validation, test = (pairs_of(frame, s) for s in ("train", "validation", "test"))
    assert not train & test and not train & validation and not validation & test
    assert split.counts()["train"] > split.counts()["test"] > split.counts()["validation"] > 0


def test_every_event_is_kept_or_counted(simulated, split):
    assert split.frame.height + split.dropped_after_cutoff == simulated.height


def test_per_user_cut_follows_first_event_time(simulated, split):
    """The held-out pairs of a (non new) user are its latest pairs by first event."""
    first = simulated.group_by("user_id", "product_id").agg(pl.col("ts").min().alias("first"))
    labelled = first.join(split.frame.select("user_id", "product_id", "split").unique(), on=["user_id", "product_id"])
    per_user = labelled.group_by("user_id").agg(
        last_train=pl.col("first").filter(pl.col("split") == "train").max(),
        first_test=pl.col("first").filter(pl.col("split") == "test").min(),
        n=pl.len(), n_test=(pl.col("split") == "test").sum())
    assert per_user.filter(pl.col("last_train") > pl.col("first_test")).height == 0
    regular = per_user.filter(pl.col("n_test") <= (pl.col("n") * 0.2).ceil())
    assert regular.height > 0.8 * per_user.height


def test_new_users_keep_only_their_first_pairs_in_train(split):
    config = SplitSettings(seed=1)
    per_user = split.frame.group_by("user_id").agg(
        train=pl.col("product_id").filter(pl.col("split") == "train").n_unique(),
        heldout=pl.col("product_id").filter(pl.col("split") != "train").n_unique())
    truncated = per_user.filter((pl.col("train") == config.new_user_history) & (pl.col("heldout") >= 1))
    assert split.new_users > 0 and truncated.height >= split.new_users


def test_cold_slices_are_cold(split):
    frame = split.frame
    train = frame.filter(pl.col("split") == "train")
    cold_items = cold_start_items(frame)
    assert cold_items and not cold_items & set(train["product_id"])
    assert cold_items <= set(frame.filter(pl.col("split") != "train")["product_id"])
    cold_users = cold_start_users(frame, max_train_items=3)
    assert cold_users
    counts = dict(train.group_by("user_id").agg(pl.col("product_id").n_unique()).iter_rows())
    assert all(counts.get(u, 0) <= 3 for u in cold_users)
    assert cold_users <= set(frame.filter(pl.col("split") == "test")["user_id"])


def test_small_histories():
    """One pair: train only. Two pairs: one train, one test. Never an empty train for a held-out user."""
    events = event_frame(["a", "b", "b", "c", "c", "c"], ["x", "x", "y", "x", "y", "z"], [0, 0, 1, 0, 1, 2])
    frame = split_interactions(events, SplitSettings(new_user_fraction=0.0)).frame
    splits = {(u, p): s for u, p, s in frame.select("user_id", "product_id", "split").iter_rows()}
    assert splits[("a", "x")] == "train"
    assert (splits[("b", "x")], splits[("b", "y")]) == ("train", "test")
    assert [splits[("c", p)] for p in "xyz"] == ["train", "train", "test"]


def test_late_events_of_earlier_pairs_are_dropped():
    """A purchase of a train item after the user's first held-out click must not reach train."""
    events = pl.concat([
        event_frame(["u"] * 4, ["a", "b", "c", "d"], [0, 10, 20, 30]),
        event_frame(["u"], ["a"], [40], event="purchase"),
    ])
    result = split_interactions(events, SplitSettings(new_user_fraction=0.0, test_fraction=0.25,
                                                    validation_fraction=0.0))
    assert result.dropped_after_cutoff == 1
    assert result.frame.filter(pl.col("event") == "purchase").is_empty()
    assert leakage_report(result.frame)["users_train_after_heldout"] == 0


def test_deterministic_and_config_checked(simulated, split):
    assert split_interactions(simulated, SplitSettings(seed=1)).frame.equals(split.frame)
    with pytest.raises(ValueError):
        SplitSettings(validation_fraction=0.5, test_fraction=0.6)


def test_removing_a_few_products_moves_only_their_users_pairs(simulated, split):
    """Nightly builds drop events on removed products; the split must stay put for everyone else
    (the retrain policy measures drift on train pairs)."""
    products = simulated["product_id"].unique().sort()
    gone = products.gather_every(200)                              # 0.5% of the products
    touched = set(simulated.filter(pl.col("product_id").is_in(gone.implode()))["user_id"])
    again = split_interactions(simulated.filter(~pl.col("product_id").is_in(gone.implode())), SplitSettings(seed=1)).frame
    before, after = (frame.filter(~pl.col("user_id").is_in(list(touched))) for frame in (split.frame, again))
    assert before.equals(after)
    train_before, train_after = pairs_of(split.frame, "train"), pairs_of(again, "train")
    assert len(train_before ^ train_after) / len(train_before) < 0.05
