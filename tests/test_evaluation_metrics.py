"""Metric definitions on hand-computed cases, edge cases, and a cross-check against ranx."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from recsys.evaluation.metrics import (
    RANKING_METRICS,
    aggregate_ranking_metrics,
    average_popularity,
    average_precision_at_k,
    catalog_coverage,
    cold_item_share,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    per_query_scores,
    precision_at_k,
    ranked_lists,
    recall_at_k,
    reciprocal_rank_at_k,
    relevance_sets,
)

RANKED = ["a", "b", "c", "d", "e"]
RELEVANT = {"b": 1.0, "d": 1.0, "z": 1.0}


def test_hand_computed_values():
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert hit_rate_at_k(RANKED, RELEVANT, 1) == 0.0 and hit_rate_at_k(RANKED, RELEVANT, 2) == 1.0
    assert reciprocal_rank_at_k(RANKED, RELEVANT, 5) == pytest.approx(1 / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(dcg / idcg)
    # AP@5: hits at 2 and 4 -> (1/2 + 2/4) / min(5, 3)
    assert average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx((0.5 + 0.5) / 3)
    # AP@2 divides by min(k, |rel|) = 2
    assert average_precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.5 / 2)


def test_graded_ndcg_uses_the_best_ideal_order():
    relevant = {"a": 1.0, "b": 3.0}
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b"], relevant, 2) == pytest.approx(expected)


def test_k_larger_than_the_list_counts_missing_slots_as_misses():
    assert precision_at_k(["b"], RELEVANT, 10) == pytest.approx(0.1)
    assert ndcg_at_k(["b"], {"b": 1.0}, 10) == 1.0
    assert average_precision_at_k(["b", "d"], {"b": 1.0, "d": 1.0}, 10) == 1.0


def test_empty_ranking_scores_zero_and_perfect_ranking_scores_one():
    for metric in (precision_at_k, recall_at_k, ndcg_at_k, average_precision_at_k, reciprocal_rank_at_k, hit_rate_at_k):
        assert metric([], RELEVANT, 5) == 0.0
    for metric in (recall_at_k, ndcg_at_k, average_precision_at_k, reciprocal_rank_at_k, hit_rate_at_k):
        assert metric(["b", "d", "z"], RELEVANT, 3) == pytest.approx(1.0)


def test_aggregation_excludes_queries_without_relevant_items_and_scores_missing_lists_zero():
    rankings = pl.DataFrame({"query_id": ["u1", "u1", "u3"], "rank": [1, 2, 1], "product_id": ["b", "a", "x"]})
    truth = pl.DataFrame({"query_id": ["u1", "u2", "u3"], "product_id": ["b", "q", "y"], "relevance": [1.0, 1.0, 0.0]})
    out = aggregate_ranking_metrics(rankings, truth, [1])
    hit = out.filter(pl.col("metric") == "hit_rate").row(0, named=True)
    assert hit["n_queries"] == 2  # u3 has no relevant item: excluded; u2 has no list: scores 0
    assert hit["value"] == pytest.approx(0.5)


def test_ties_are_scored_in_the_order_served():
    # Two items with equal scores: the metric uses the rank the producer assigned, nothing else.
    assert reciprocal_rank_at_k(["x", "b"], {"b": 1.0}, 2) == 0.5
    assert reciprocal_rank_at_k(["b", "x"], {"b": 1.0}, 2) == 1.0


def test_beyond_accuracy_metrics():
    rankings = pl.DataFrame({"query_id": ["u1", "u1", "u2", "u2"], "rank": [1, 2, 1, 2],
                             "product_id": ["a", "b", "a", "c"]})
    assert catalog_coverage(rankings, 10, 2) == pytest.approx(0.3)
    assert catalog_coverage(rankings, 10, 1) == pytest.approx(0.1)
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.0]), "c": np.array([0.0, 1.0])}
    assert intra_list_diversity(rankings, vectors, 2) == pytest.approx((0.0 + 1.0) / 2)
    counts = {"a": 3, "b": 1}
    assert average_popularity(rankings, counts, 2) == pytest.approx((3 + 1 + 3 + 0) / 4)
    expected_novelty = np.mean([-math.log2(4 / 5), -math.log2(2 / 5), -math.log2(4 / 5), -math.log2(1 / 5)])
    assert novelty(rankings, counts, 4, 2) == pytest.approx(expected_novelty)
    assert cold_item_share(rankings, {"c"}, 2) == pytest.approx(0.25)


def test_cross_check_against_ranx():
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(0)
    items = [f"i{j}" for j in range(40)]
    qrels, run, rows, truth = {}, {}, [], []
    for q in range(30):
        relevant = list(rng.choice(items, size=int(rng.integers(1, 6)), replace=False))
        ranked = list(rng.choice(items, size=20, replace=False))
        qrels[f"q{q}"] = {i: 1 for i in relevant}
        run[f"q{q}"] = {i: float(20 - r) for r, i in enumerate(ranked)}
        rows += [(f"q{q}", r + 1, i) for r, i in enumerate(ranked)]
        truth += [(f"q{q}", i, 1.0) for i in relevant]
    ours = aggregate_ranking_metrics(
        pl.DataFrame(rows, schema=["query_id", "rank", "product_id"], orient="row"),
        pl.DataFrame(truth, schema=["query_id", "product_id", "relevance"], orient="row"), [5, 10, 20])
    value = {(m, k): v for m, k, v, _ in ours.iter_rows()}
    theirs = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run),
                           [f"{m}@{k}" for m in ("precision", "recall", "ndcg", "mrr", "hit_rate") for k in (5, 10, 20)]
                           + ["map@20"])
    for name, expected in theirs.items():
        metric, k = name.split("@")
        if metric == "map":
            continue
        assert value[(metric, int(k))] == pytest.approx(expected, abs=1e-9), name
    # every query has <= 5 relevant items, so at k=20 both AP conventions coincide
    assert value[("map", 20)] == pytest.approx(theirs["map@20"], abs=1e-9)


def test_paired_difference_of_two_models_on_the_same_queries():
    from recsys.evaluation.significance import paired_difference

    truth = pl.DataFrame({"query_id": ["q1", "q2", "q3", "q4"], "product_id": ["a", "a", "a", "a"],
                          "relevance": [1.0] * 4})
    # model "x" puts a first for q1..q3; model "y" puts it second for q1, first for q4, and has no list for q2, q3
    rankings = pl.DataFrame({
        "model": ["x"] * 6 + ["y"] * 3,
        "query_id": ["q1", "q1", "q2", "q2", "q3", "q3", "q1", "q1", "q4"],
        "rank": [1, 2, 1, 2, 1, 2, 1, 2, 1],
        "product_id": ["a", "b", "a", "b", "a", "b", "b", "a", "a"],
    })
    diff = paired_difference(rankings, truth, "x", "y", "ndcg", 2)
    y_q1 = 1 / math.log2(3)
    assert diff.n_queries == 4 and (diff.wins, diff.losses) == (3, 1)
    assert diff.mean_a == pytest.approx(3 / 4) and diff.mean_b == pytest.approx((y_q1 + 1) / 4)
    assert diff.difference == pytest.approx(diff.mean_a - diff.mean_b)
    assert diff.low <= diff.difference <= diff.high
    assert paired_difference(rankings, truth.filter(pl.col("query_id") == "zz"), "x", "y") is None


def test_nan_is_in_range_only_for_a_model_that_ranked_no_list():
    from recsys.evaluation.protocol import out_of_range

    metrics = pl.DataFrame({"model": ["image", "image", "text", "text"],
                            "metric": ["diversity", "cold_item_share", "cold_item_share", "ndcg"],
                            "value": [float("nan"), float("nan"), float("nan"), 1.5], "n_queries": [0, 0, 40, 40]})
    assert out_of_range(metrics).select("model", "metric").rows() == [("text", "cold_item_share"), ("text", "ndcg")]


@pytest.mark.parametrize("seed", range(5))
def test_the_table_of_scores_equals_each_metrics_definition_query_by_query(seed):
    """per_query_scores (all queries at once) against RANKING_METRICS on lists and relevance dicts, on messy
    data: rank gaps, an item listed twice, graded and non-positive relevance, repeated truth pairs, queries
    with no list and lists with no truth."""
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(25)]
    rows, truth = [], []
    for q in range(40):
        if rng.random() < 0.85:
            ranked = list(rng.choice(items, size=int(rng.integers(1, 15)), replace=True))
            ranks = np.cumsum(rng.integers(1, 3, size=len(ranked)))
            rows += [(f"q{q}", int(r), i) for r, i in zip(ranks, ranked)]
        if rng.random() < 0.9:
            truth += [(f"q{q}", str(rng.choice(items)), float(rng.choice([-1.0, 0.0, 1.0, 2.0, 3.0])))
                      for _ in range(int(rng.integers(1, 8)))]
    rankings = pl.DataFrame(rows, schema=["query_id", "rank", "product_id"], orient="row").sample(
        fraction=1.0, shuffle=True, seed=seed)
    ground_truth = pl.DataFrame(truth, schema=["query_id", "product_id", "relevance"], orient="row")
    ks = [1, 3, 10]
    scores = per_query_scores(rankings, ground_truth, ks)
    lists, relevant = ranked_lists(rankings), relevance_sets(ground_truth)
    expected = {(q, name, k): metric(lists.get(q, []), rel, k)
                for q, rel in relevant.items() for name, metric in RANKING_METRICS.items() for k in ks}
    got = {(q, name, k): value for q, name, k, value in scores.iter_rows()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
