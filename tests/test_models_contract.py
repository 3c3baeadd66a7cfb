"""One contract every recommender answers (implicit's checker-board style), run for each model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.models.als import ALSParams, ALSRecommender
from recsys.models.base import Recommender, top_k_columns
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
    columns, values = top_k_columns(scores, 2)
    assert columns.tolist() == [[1, 2], [0, 2]] and values[0].tolist() == pytest.approx([0.9, 0.5])
    assert top_k_columns(scores, 10)[0].shape == (2, 3)


def test_top_k_rows_block_prefilter_is_exact_on_wide_rows():
    """Rows wide enough for the block-maximum prefilter (and a partial last block) give exactly the
    k largest scores, also when they crowd into one block or a row has fewer than k finite ones."""
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(6, 64 * 90 + 17)).astype(np.float32)
    scores[1, 128:148] += 10.0                    # the whole top 20 in one block
    scores[2, -5:] += 10.0                        # some of it in the partial last block
    scores[3, 20:] = -np.inf                      # only 20 finite scores
    columns, values = top_k_columns(scores, 20)
    expected = -np.sort(-scores, axis=1)[:, :20]
    assert np.array_equal(values, expected)
    assert np.array_equal(np.take_along_axis(scores, columns, axis=1), expected)
    assert set(columns[1].tolist()) == set(range(128, 148))


def test_probe_metrics_are_the_evaluation_definitions():
    """The vectorised probe equals recsys.evaluation.metrics applied to recommend()'s lists, with
    unknown users as zeros and held-out items the model does not know as misses."""
    from recsys.evaluation.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k
    from recsys.models.validation import RankingProbe

    rng = np.random.default_rng(0)
    users, items = [f"u{u}" for u in range(40)], [f"i{i}" for i in range(60)]
    events = event_frame([users[u] for u in rng.integers(0, 40, 400)], [items[i] for i in rng.integers(0, 60, 400)],
                         range(400))
    model = ALSRecommender(ALSParams(factors=4, iterations=3, num_threads=1)).fit(Interactions.from_events(events))
    heldout = event_frame([users[u] for u in rng.integers(0, 40, 90)] + ["stranger"] * 2,
                          [items[i] for i in rng.integers(0, 60, 90)] + ["i1", "i2"], range(92))
    heldout = pl.concat([heldout, event_frame(["u1"], ["never-seen-item"], [0])])
    probe = RankingProbe.from_events(heldout, k=5, max_users=1000)
    served = model.recommend(probe.user_ids, 5)
    ranked = dict(zip(served.user_ids.tolist(), served.item_ids.tolist()))
    expected = np.zeros(3)
    for user, relevant in zip(probe.user_ids.tolist(), probe.relevant):
        top, gains = [p for p in ranked.get(user, []) if p is not None], dict.fromkeys(relevant, 1.0)
        expected += [recall_at_k(top, gains, 5), ndcg_at_k(top, gains, 5), hit_rate_at_k(top, gains, 5)]
    assert list(probe.evaluate(model).values()) == pytest.approx((expected / len(probe)).tolist(), abs=1e-12)


def test_interactions_strength_history_and_ratings():
    events = pl.concat([
        event_frame(["u", "u", "u"], ["a", "b", "a"], [0, 10, 20]),
        event_frame(["u"], ["a"], [30], event="purchase"),
        event_frame(["u"], ["b"], [40], event="rating", values=[1.0]),
        event_frame(["v"], ["c"], [5], event="wishlist"),
        event_frame(["v", "v"], ["c", "c"], [6, 7], event="rating", values=[2.0, 5.0]),
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
    assert ratings == {"a": 5.0, "b": 1.0, "c": 3.5}                   # implied, explicit, mean of two
    assert dense[1, 2] == pytest.approx(weights.events["wishlist"] + (2 - 3) + (5 - 3))
    with pytest.raises(ValueError):
        Interactions.from_events(events, item_ids=["a"])
    with pytest.raises(ValueError):
        Interactions.from_events(events, item_ids=["a", "b", "c", "a"])
    empty = Interactions.from_events(events.clear(), item_ids=["a", "b"])
    assert empty.matrix.shape == (0, 2) and empty.nnz == 0
