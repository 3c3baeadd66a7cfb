"""One contract every recommender answers (implicit's checker-board style), run for each model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.models.als import ALSParams, ALSRecommender
from recsys.models.base import Recommender, top_k_rows
from recsys.models.matrix import EventWeights, Interactions
from recsys.models.popularity import PopularityRecommender
from recsys.models.two_tower import ItemFeatures, TwoTowerParams, TwoTowerRecommender
from tests.interaction_fixtures import checker_board, embeddings_frame, event_frame

N = 20


class RecommenderContract:
    personalised = True

    @classmethod
    def make_model(cls) -> Recommender:
        raise NotImplementedError

    @classmethod
    def fit(cls, model: Recommender, events: pl.DataFrame) -> Recommender:
        return model.fit(Interactions.from_events(events))

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls) -> Recommender:
        return cls.fit(cls.make_model(), checker_board(N))

    def test_recommends_k_unseen_items(self, fitted):
        top = fitted.recommend(["u00", "u01"], k=3)
        assert top.item_ids.shape == (2, 3) and list(top.user_ids) == ["u00", "u01"]
        seen = checker_board(N).group_by("user_id").agg(pl.col("product_id"))
        seen = {u: set(items) for u, items in seen.iter_rows()}
        for user, items, scores in zip(top.user_ids, top.item_ids, top.scores):
            assert not set(items) & seen[user]
            assert list(scores) == sorted(scores, reverse=True)

    def test_checker_board_structure(self, fitted):
        if not self.personalised:
            pytest.skip("not a personalised model")
        top = fitted.recommend([f"u{u:02d}" for u in range(N)], k=1)
        for user, (item,) in zip(top.user_ids, top.item_ids):
            assert int(item[1:]) % 2 == int(user[1:]) % 2, (user, item)

    def test_without_exclusion_seen_items_can_come_back(self, fitted):
        top = fitted.recommend(["u00"], k=N, exclude_seen=False)
        assert len(set(top.item_ids[0])) == N

    def test_unknown_users_and_items(self, fitted):
        top = fitted.recommend(["nobody", "u03"], k=2)
        assert list(top.user_ids) == ["u03"]
        scores = fitted.score(["u03", "nobody", "u03"], ["i05", "i05", "nothing"])
        assert np.isfinite(scores[0]) and np.isnan(scores[1]) and np.isnan(scores[2])

    def test_k_beyond_the_catalog_is_padded(self, fitted):
        top = fitted.recommend(["u00"], k=N + 5)
        frame = top.to_frame()
        assert frame.height == N - (N // 2 - 1)            # every unseen item once
        assert frame["rank"].to_list() == list(range(1, frame.height + 1))
        assert top.item_ids[0, -1] is None and top.scores[0, -1] == -np.inf

    def test_save_and_load_round_trip(self, fitted, tmp_path):
        fitted.save_pretrained(tmp_path / "model")
        again = type(fitted).from_pretrained(tmp_path / "model")
        users = [f"u{u:02d}" for u in range(N)]
        assert again.recommend(users, 5).to_frame().equals(fitted.recommend(users, 5).to_frame())
        assert np.allclose(again.score(users, ["i01"] * N), fitted.score(users, ["i01"] * N), atol=1e-6)
        assert again.version is not None
        with pytest.raises(ValueError):
            PopularityRecommender.from_pretrained(tmp_path / "model") if fitted.name != "popularity" \
                else ALSRecommender.from_pretrained(tmp_path / "model")


class TestPopularity(RecommenderContract):
    personalised = False

    @classmethod
    def make_model(cls):
        return PopularityRecommender()

    def test_most_popular_first(self):
        events = event_frame(["a", "b", "c", "a", "b", "a"], ["x", "x", "x", "y", "y", "z"], range(6))
        model = PopularityRecommender().fit(Interactions.from_events(events))
        assert list(model.ranked_items(3)) == ["x", "y", "z"]
        assert model.recommend(["c"], 2).item_ids[0].tolist() == ["y", "z"]


class TestALS(RecommenderContract):
    @classmethod
    def make_model(cls):
        return ALSRecommender(ALSParams(factors=4, regularization=0.01, iterations=15, seed=0, num_threads=1))


class TestTwoTower(RecommenderContract):
    @classmethod
    def make_model(cls):
        return TwoTowerRecommender(TwoTowerParams(dim=16, hidden=32, batch_size=32, uniform_negatives=16,
                                                  max_epochs=40, patience=40, lr=5e-3, temperature=0.1,
                                                  short_history_rate=0.0, seed=0))

    @classmethod
    def fit(cls, model, events):
        rng = np.random.default_rng(0)
        parity = np.array([[1.0, 0.0], [0.0, 1.0]])[np.arange(N) % 2]
        content = np.hstack([parity * 3, rng.normal(size=(N, 6))])
        embeddings = embeddings_frame([f"i{i:02d}" for i in range(N)], content)
        train = Interactions.from_events(events, item_ids=embeddings["product_id"].to_list())
        return model.fit(train, ItemFeatures.build(embeddings, train))


# --- pieces shared by every model -----------------------------------------------------------

def test_top_k_rows_orders_and_handles_short_rows():
    scores = np.array([[0.1, 0.9, 0.5], [2.0, -np.inf, 1.0]], dtype=np.float32)
    columns, values = top_k_rows(scores, 2)
    assert columns.tolist() == [[1, 2], [0, 2]] and values[0].tolist() == pytest.approx([0.9, 0.5])
    assert top_k_rows(scores, 10)[0].shape == (2, 3)


def test_interactions_strength_history_and_ratings():
    events = pl.concat([
        event_frame(["u", "u", "u"], ["a", "b", "a"], [0, 10, 20]),
        event_frame(["u"], ["a"], [30], event="purchase"),
        event_frame(["u"], ["b"], [40], event="rating", values=[1.0]),
        event_frame(["v"], ["c"], [5], event="wishlist"),
    ])
    matrix = Interactions.from_events(events, item_ids=["a", "b", "c", "d"])
    weights = EventWeights()
    dense = matrix.matrix.toarray()
    assert dense[0, 0] == pytest.approx(2 * weights.events["click"] + weights.events["purchase"])
    assert dense[0, 1] == pytest.approx(weights.min_strength)       # click + 1-star rating, floored
    assert dense[:, 3].sum() == 0 and matrix.item_counts().tolist() == [1, 1, 1, 0]
    items, strengths = matrix.history(0)
    assert matrix.item_ids[items].tolist() == ["b", "a"]               # most recent first
    ratings = dict(zip(matrix.item_ids[matrix.matrix.indices].tolist(), matrix.ratings.tolist()))
    assert ratings == {"a": 5.0, "b": 1.0, "c": 4.0}                   # implied, explicit, implied
    with pytest.raises(ValueError):
        Interactions.from_events(events, item_ids=["a"])
