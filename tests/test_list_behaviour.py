"""Popularity and co-purchases pinned with the models (recsys.gold.behaviour)."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.gold.behaviour import Behaviour, pinned_behaviour
from recsys.gold.refresh_inputs import history_item_arrays
from recsys.index import IdMap
from recsys.recommend import build_history

MODELS = {"models/als": "2026-12-01T00:00:00+00:00", "encoders": [["text", "1"]]}


def _events(seed: int, users: int = 60, products: int = 40, rows: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "user_id": [f"u{i}" for i in rng.integers(0, users, rows)],
        "product_id": [f"p{i:03d}" for i in rng.zipf(1.5, rows) % products],
        "event": rng.choice(["view", "click", "purchase"], rows, p=[0.5, 0.3, 0.2]).tolist(),
    })


def test_a_snapshot_taken_now_scores_and_explains_exactly_like_the_history_it_was_taken_from():
    events, items = _events(0), IdMap([f"p{i:03d}" for i in range(45)])     # p040..p044: never seen
    history = build_history(events, items)
    applied = Behaviour.of(events, MODELS).applied_to(history, items)
    np.testing.assert_array_equal(applied.popularity, history.popularity)
    for name, values in history_item_arrays(history, len(items)).items():
        np.testing.assert_array_equal(history_item_arrays(applied, len(items))[name], values, err_msg=name)
    a, b = np.repeat(np.arange(45), 45), np.tile(np.arange(45), 45)
    np.testing.assert_array_equal(applied.bought_together(a, b), history.bought_together(a, b))
    assert applied.owned is history.owned and list(applied.user_ids) == list(history.user_ids)


def test_new_events_leave_a_pinned_snapshot_alone_until_a_model_is_retrained(tmp_path):
    items = IdMap([f"p{i:03d}" for i in range(40)])
    before = _events(1)
    taken, pinned = pinned_behaviour(tmp_path / "behaviour", before, MODELS)
    assert not pinned
    today = pl.concat([before, _events(2, rows=300)])          # a day of new clicks and purchases
    kept, pinned = pinned_behaviour(tmp_path / "behaviour", today, MODELS)
    assert pinned
    history = build_history(today, items)
    np.testing.assert_array_equal(kept.applied_to(history, items).popularity,
                                  build_history(before, items).popularity)
    assert not np.array_equal(history.popularity, build_history(before, items).popularity)
    # what each user owns is today's all the same
    assert kept.applied_to(history, items).owned is history.owned

    retrained = {**MODELS, "models/als": "2026-12-08T00:00:00+00:00"}
    fresh, pinned = pinned_behaviour(tmp_path / "behaviour", today, retrained)
    assert not pinned
    np.testing.assert_array_equal(fresh.applied_to(history, items).popularity, history.popularity)


def test_products_new_since_the_snapshot_have_no_users_or_buyers_and_removed_ones_drop_out():
    events = _events(3)
    snapshot = Behaviour.of(events, MODELS)
    # p000 removed from the catalog, "p999" new
    items = IdMap([f"p{i:03d}" for i in range(1, 40)] + ["p999"])
    history = build_history(events, items)
    applied = snapshot.applied_to(history, items)
    new = items.positions_of(pl.Series(["p999"]))[0]
    assert applied.popularity[new] == 0 and applied.purchases[new].nnz == 0
    assert applied.popularity.shape == (40,) and applied.purchases.shape[0] == 40
    bought = snapshot.purchases.filter(pl.col("product_id") != "p000")
    assert applied.purchases.nnz == bought.height
    assert set(applied.buyer_ids) == set(bought["user_id"].to_list())
