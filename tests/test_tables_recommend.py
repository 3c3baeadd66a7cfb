"""Candidates, hybrid re-ranking, history and reasons on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.index import IdMap
from recsys.recommend import (
    CandidateSource,
    ItemPriorSignal,
    VectorSignal,
    build_history,
    candidates_with_proposals,
    generate_candidates,
    pair_score_table,
    rerank,
    unique_per_row,
)
from recsys.recommend.reasons import similar_item_reasons, style_reasons, user_reasons
from recsys.topk import Exclusions, exact_search, prior_search


def test_unique_per_row_dedups_and_pads():
    got = unique_per_row(np.array([[3, 1, 3, -1], [2, 2, 2, 2], [-1, -1, -1, -1]]))
    np.testing.assert_array_equal(got, [[1, 3], [2, -1], [-1, -1]])


def test_candidates_union_sources_and_never_contain_excluded_items():
    items = np.eye(6, dtype=np.float32)
    queries = items[[0, 1]]
    sources = [CandidateSource("vec", exact_search(items), queries, 2),
               CandidateSource("pop", prior_search(np.arange(6, dtype=np.float32)), np.zeros((2, 0), np.float32), 2)]
    got = generate_candidates(sources, 2, Exclusions.from_lists([[0, 5], [1]]))
    rows = [set(r[r >= 0].tolist()) for r in got]
    assert 0 not in rows[0] and 5 not in rows[0] and 1 not in rows[1]
    assert {4, 3} <= rows[0] and {5, 4} <= rows[1]


def test_candidates_skip_queries_a_source_does_not_know():
    items = np.eye(3, dtype=np.float32)
    source = CandidateSource("vec", exact_search(items), items, 1, query_known=np.array([True, False, True]))
    got = generate_candidates([source], 3)
    np.testing.assert_array_equal(got[:, 0], [0, -1, 2])


def test_proposals_end_at_each_sources_last_admissible_item():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(40, 4)).astype(np.float32)
    queries = rng.normal(size=(3, 4)).astype(np.float32)
    popularity = rng.random(40).astype(np.float32)
    excluded = [[int(np.argmax(items @ queries[0]))], [], [1, 2, 3]]
    sources = [CandidateSource("vec", exact_search(items), queries, 5, query_known=np.array([True, True, False])),
               CandidateSource("pop", prior_search(popularity), np.zeros((3, 0), np.float32), 50)]
    found = candidates_with_proposals(sources, 3, Exclusions.from_lists(excluded))
    np.testing.assert_array_equal(found.positions, generate_candidates(sources, 3, Exclusions.from_lists(excluded)))
    for q in (0, 1):         # the 5th best score among the items the query may get
        allowed = np.setdiff1d(np.arange(40), excluded[q])
        assert found.ranked["vec"].scores[q, 4] == pytest.approx(np.sort(items[allowed] @ queries[q])[-5], abs=1e-6)
    assert found.ranked["vec"].scores[2, 4] == -np.inf                   # a query the source does not know
    assert np.all(found.ranked["pop"].scores[:, 49] == -np.inf)          # fewer than 50 items: no bar to clear


def test_rerank_mixes_min_max_normalised_signals_with_weights():
    # Two items, one query. content prefers item 0, popularity item 1.
    content = VectorSignal("content", np.array([[1.0, 0.0]], np.float32), np.array([[0.9, 0.1], [0.1, 0.9]], np.float32))
    popularity = ItemPriorSignal("popularity", np.array([1.0, 10.0], np.float32))
    candidates = np.array([[0, 1]])
    ranked = rerank(candidates, [content, popularity], {"content": 3.0, "popularity": 1.0}, k=2)
    np.testing.assert_array_equal(ranked.topk.positions, [[0, 1]])
    np.testing.assert_allclose(ranked.topk.scores, [[3 / 4, 1 / 4]])
    assert ranked.models.tolist() == ["hybrid"]
    assert [ranked.signal_names[i] for i in ranked.dominant[0]] == ["content", "popularity"]
    flipped = rerank(candidates, [content, popularity], {"content": 1.0, "popularity": 3.0}, k=2)
    np.testing.assert_array_equal(flipped.topk.positions, [[1, 0]])


def test_rerank_drops_a_signal_that_does_not_know_the_query():
    als = VectorSignal("als", np.ones((2, 2), np.float32), np.array([[1, 0], [0, 2], [1, 1]], np.float32),
                       query_known=np.array([True, False]))
    pop = ItemPriorSignal("popularity", np.array([3.0, 2.0, 1.0], np.float32))
    ranked = rerank(np.array([[0, 1, 2], [0, 1, 2]]), [als, pop], {"als": 1.0, "popularity": 1.0}, k=3)
    assert ranked.models.tolist() == ["hybrid", "popularity"]
    # Cold query: popularity alone, normalised to [0, 1].
    np.testing.assert_array_equal(ranked.topk.positions[1], [0, 1, 2])
    np.testing.assert_allclose(ranked.topk.scores[1], [1.0, 0.5, 0.0])
    rows = ranked.rows()
    assert rows.filter(pl.col("query") == 1)["signal"].unique().to_list() == ["popularity"]


def test_rerank_pads_when_fewer_candidates_than_k_and_breaks_ties_by_position():
    pop = ItemPriorSignal("popularity", np.array([1.0, 1.0, 1.0], np.float32))
    ranked = rerank(np.array([[2, 0, -1]]), [pop], {"popularity": 1.0}, k=5)
    np.testing.assert_array_equal(ranked.topk.positions, [[0, 2, -1, -1, -1]])
    assert ranked.rows()["rank"].to_list() == [1, 2]


def test_reranking_from_a_pair_score_table_equals_scoring_every_time():
    """The tuning scores a candidate set once and re-ranks it with many weights: the same lists as scoring
    it inside every rerank (queries known to some signals only, padded candidates, query_rows)."""
    rng = np.random.default_rng(3)
    n_queries, n_items = 600, 80
    tower = VectorSignal("two_tower", rng.normal(size=(n_queries, 8)).astype(np.float32),
                         rng.normal(size=(n_items, 8)).astype(np.float32), query_known=rng.random(n_queries) < 0.8)
    content = VectorSignal("content", rng.normal(size=(n_queries, 4)).astype(np.float32),
                           rng.normal(size=(n_items, 4)).astype(np.float32), item_known=rng.random(n_items) < 0.9)
    pop = ItemPriorSignal("popularity", rng.random(n_items).astype(np.float32))
    signals = [tower, content, pop]
    candidates = rng.integers(-1, n_items, size=(500, 30))
    query_rows = rng.permutation(n_queries)[:500]
    table = pair_score_table(candidates, signals, query_rows=query_rows)
    for weights in ({"two_tower": 1.0, "content": 0.5, "popularity": 0.1}, {"content": 1.0}, {"popularity": 2.0}):
        direct = rerank(candidates, signals, weights, k=10, query_rows=query_rows)
        cached = rerank(candidates, signals, weights, k=10, query_rows=query_rows, pair_scores=table)
        np.testing.assert_array_equal(cached.topk.positions, direct.topk.positions)
        np.testing.assert_array_equal(cached.topk.scores, direct.topk.scores)
        np.testing.assert_array_equal(cached.dominant, direct.dominant)
        assert cached.models.tolist() == direct.models.tolist()


def test_rerank_needs_a_positive_weight():
    with pytest.raises(ValueError, match="positive weight"):
        rerank(np.array([[0]]), [ItemPriorSignal("popularity", np.ones(1, np.float32))], {"popularity": 0.0}, k=1)


def test_history_counts_distinct_users_flags_unknown_products_and_purchases():
    items = IdMap(["a", "b", "c"])
    rows = pl.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3"],
        "product_id": ["a", "a", "b", "a", "zzz", "b", "c"],
        "event": ["view", "purchase", "purchase", "view", "view", "purchase", "purchase"],
        "split": ["train", "train", "train", "train", "train", "train", "test"],
    })
    history = build_history(rows, items)
    assert history.user_ids.tolist() == ["u1", "u2", "u3"]
    assert history.unknown_product_rows == 1
    np.testing.assert_array_equal(history.popularity, [2, 2, 1])
    assert history.items_of(0).tolist() == [0, 1] and history.items_of(2).tolist() == [1, 2]
    np.testing.assert_array_equal(history.bought_together(np.array([0, 1, 0]), np.array([1, 2, 2])), [True, True, False])
    train_only = build_history(rows, items, splits=["train"], users=["u1", "u2", "u3", "u4"])
    assert train_only.items_of(2).tolist() == [1] and train_only.items_of(3).tolist() == []


PRODUCTS = pl.DataFrame({
    "name": ["Blue Shirt", "Blue Shirt Slim", "Red Shirt", "Blue Jeans With A Very Long Name That Goes On And On"],
    "article_type": ["Shirts", "Shirts", "Shirts", "Jeans"],
    "colour": ["Blue", "Blue", "Red", None],
    "has_image": [True, True, True, False],
})


def test_similar_item_reasons_follow_attributes_and_signals():
    rows = pl.DataFrame({"query": [0, 0, 0, 0, 0, 0, 0], "item": [1, 2, 3, 1, 1, 1, 1],
                         "signal": ["content", "content", "content", "als", "als", "two_tower", "popularity"],
                         "bought_together": [False, False, False, True, False, False, False]})
    assert similar_item_reasons(rows, PRODUCTS).to_list() == [
        "same article type and colour", "same article type, looks similar", "similar description",
        "often bought together", "liked by the same shoppers", "fits what similar shoppers like",
        "popular with shoppers"]


def test_user_reasons_name_the_anchor_item():
    rows = pl.DataFrame({"item": [1, 3, 2, 2, 0], "anchor": [0, 0, 0, 1, None],
                         "signal": ["content", "content", "als", "als", "popularity"],
                         "bought_together": [False, False, True, False, False]})
    assert user_reasons(rows, PRODUCTS).to_list() == [
        "looks like Blue Shirt", "similar to Blue Shirt", "bought together with Blue Shirt",
        "shoppers who liked Blue Shirt Slim chose this", "popular with shoppers"]
    long = user_reasons(pl.DataFrame({"item": [0], "anchor": [3], "signal": ["two_tower"],
                                      "bought_together": [False]}), PRODUCTS)[0]
    assert long.startswith("matches your taste for Blue Jeans") and long.endswith("…") and len(long) < 70


def test_style_reasons_state_only_what_is_true():
    got = style_reasons(pl.Series(["style_fit", "style_fit", "style_popularity", "popularity", "style_popularity"]),
                        "formal", pl.Series(["Shirts, Formal", None, None, None, "Ties"]),
                        pl.Series([False, True, True, True, False]))
    assert got.to_list() == ["formal style: Shirts, Formal", "popular with formal style", "popular with formal style",
                             "popular with shoppers", "formal style: Ties"]


@pytest.mark.parametrize("chunk_bytes", [1, 200, 1 << 20])
def test_vector_pair_scores_are_the_dot_products_whatever_the_chunk(monkeypatch, chunk_bytes):
    """Candidates are scored a few rows at a time; every chunk size gives the plain dot products,
    NaN for padding (-1), unknown items and unknown queries."""
    import recsys.recommend.signals as signals

    monkeypatch.setattr(signals, "PAIR_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(2)
    queries, items = rng.normal(size=(9, 5)).astype(np.float32), rng.normal(size=(30, 5)).astype(np.float32)
    item_known, query_known = rng.random(30) > 0.2, np.arange(9) != 4
    signal = VectorSignal("content", queries, items, query_known=query_known, item_known=item_known)
    rows, candidates = np.array([8, 0, 4, 3, 3, 1, 7]), rng.integers(-1, 30, size=(7, 11))
    scores = signal.pair_scores(rows, candidates)
    expected = np.einsum("qcd,qd->qc", items[candidates.clip(0)], queries[rows])
    unknown = (candidates < 0) | ~item_known[candidates.clip(0)] | ~query_known[rows][:, None]
    np.testing.assert_array_equal(np.isnan(scores), unknown)
    np.testing.assert_allclose(scores[~unknown], expected[~unknown], rtol=1e-5, atol=1e-6)
