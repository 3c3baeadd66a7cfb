"""Ranking and beyond-accuracy metrics, defined exactly.

Conventions shared by every ranking metric (one query = one ranked list + its relevant items):
- ``ranked`` is the list as served, best first; it is cut at ``k``. A list shorter than ``k`` is
  not padded with relevant items: the missing positions count as misses.
- ``relevant`` maps item -> gain (> 0). Binary relevance is gain 1.0.
- A query with no relevant item is undefined for these metrics and is excluded by the
  aggregators (they report ``n_queries``); a query that has relevant items but no ranked list
  (the model returned nothing) scores 0, so a model cannot gain by abstaining.
- Scores are in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl

Relevant = Mapping[str, float]


def _hits(ranked: Sequence[str], relevant: Relevant, k: int) -> list[bool]:
    return [item in relevant for item in ranked[:k]]


def precision_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """|top-k ∩ relevant| / k (the denominator is k even when fewer than k items are ranked)."""
    return sum(_hits(ranked, relevant, k)) / k


def recall_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """|top-k ∩ relevant| / |relevant|."""
    return sum(_hits(ranked, relevant, k)) / len(relevant)


def hit_rate_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """1 if any relevant item is in the top k, else 0."""
    return float(any(_hits(ranked, relevant, k)))


def reciprocal_rank_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """1 / rank of the first relevant item within the top k, else 0 (MRR is its mean)."""
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """DCG@k / IDCG@k with linear gain (Järvelin & Kekäläinen 2002).

    DCG@k = sum_{i<=k} gain(item_i) / log2(i + 1); IDCG@k is the DCG of the ideal list, the
    min(k, |relevant|) largest gains in decreasing order. Binary relevance: gain 1. Same as ranx's
    ``ndcg`` (not ``ndcg_burges``, which uses 2^gain - 1; identical for binary relevance).
    """
    dcg = sum(relevant.get(item, 0.0) / math.log2(i + 2) for i, item in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg


def average_precision_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """AP@k = (1 / min(k, |relevant|)) * sum_{i<=k, item_i relevant} precision@i.

    Dividing by min(k, |relevant|) rather than |relevant| means a list of k items that are all
    relevant scores 1 even when more than k items are relevant (the convention of most recommender
    libraries). ranx divides by |relevant|; the two agree whenever |relevant| <= k. MAP is the mean.
    """
    hits, total = 0, 0.0
    for position, hit in enumerate(_hits(ranked, relevant, k), start=1):
        if hit:
            hits += 1
            total += hits / position
    return total / min(k, len(relevant))


RANKING_METRICS: dict[str, Callable[[Sequence[str], Relevant, int], float]] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank_at_k,
    "hit_rate": hit_rate_at_k,
}


def ranked_lists(rankings: pl.DataFrame) -> dict[str, list[str]]:
    """query_id -> product ids in rank order, from a (query_id, rank, product_id) frame."""
    ordered = rankings.sort("query_id", "rank").group_by("query_id", maintain_order=True).agg("product_id")
    return dict(ordered.iter_rows())


def relevance_sets(ground_truth: pl.DataFrame) -> dict[str, dict[str, float]]:
    """query_id -> {product_id: relevance}, keeping only positive relevance."""
    truth: dict[str, dict[str, float]] = {}
    for query_id, product_id, relevance in ground_truth.select("query_id", "product_id", "relevance").iter_rows():
        if relevance > 0:
            truth.setdefault(query_id, {})[product_id] = float(relevance)
    return truth


def _positive_truth(ground_truth: pl.DataFrame) -> pl.DataFrame:
    """``query_id, product_id, relevance`` with relevance > 0, the last row winning for a repeated pair
    (what ``relevance_sets`` keeps)."""
    return (ground_truth.select("query_id", "product_id", pl.col("relevance").cast(pl.Float64))
            .filter(pl.col("relevance") > 0)
            .unique(["query_id", "product_id"], keep="last", maintain_order=True))


def per_query_scores(rankings: pl.DataFrame, ground_truth: pl.DataFrame, ks: Sequence[int]) -> pl.DataFrame:
    """One row per (query_id, metric, k): every ranking metric for every query with relevant items.

    The metrics of ``RANKING_METRICS`` computed for all queries at once in polars (equal to them within
    float rounding, tests/test_evaluation_metrics.py): a list's positions are its rows in rank order."""
    schema = {"query_id": pl.String, "metric": pl.String, "k": pl.Int64, "value": pl.Float64}
    truth = _positive_truth(ground_truth)
    if truth.is_empty() or not ks:
        return pl.DataFrame(schema=schema)
    queries = truth.group_by("query_id", maintain_order=True).agg(
        n_relevant=pl.len(), ideal=pl.col("relevance").sort(descending=True).head(max(ks)))
    positioned = (rankings.select("query_id", "rank", "product_id")
                  .join(queries.select("query_id"), on="query_id", how="semi")
                  .sort("query_id", "rank", maintain_order=True)
                  .with_columns(position=pl.int_range(1, pl.len() + 1).over("query_id"))
                  .filter(pl.col("position") <= max(ks))
                  .join(truth, on=["query_id", "product_id"], how="left")
                  .with_columns(hit=pl.col("relevance").is_not_null(), gain=pl.col("relevance").fill_null(0.0)))
    frames = []
    for k in ks:
        top = (positioned.filter(pl.col("position") <= k)
               .with_columns(hits_so_far=pl.col("hit").cum_sum().over("query_id"))
               .group_by("query_id").agg(
                   hits=pl.col("hit").sum(),
                   dcg=(pl.col("gain") / (pl.col("position") + 1).log(2)).sum(),
                   first_hit=pl.col("position").filter(pl.col("hit")).min(),
                   precision_sum=(pl.col("hits_so_far") / pl.col("position")).filter(pl.col("hit")).sum()))
        idcg = pl.col("ideal").list.head(k).list.eval(pl.element() / (pl.int_range(pl.len()) + 2).log(2)).list.sum()
        scored = (queries.join(top, on="query_id", how="left")
                  .with_columns(pl.col("hits").fill_null(0), pl.col("dcg").fill_null(0.0),
                                pl.col("precision_sum").fill_null(0.0))
                  .select("query_id",
                          precision=pl.col("hits") / k,
                          recall=pl.col("hits") / pl.col("n_relevant"),
                          ndcg=pl.col("dcg") / idcg,
                          map=pl.col("precision_sum") / pl.min_horizontal(pl.lit(k), pl.col("n_relevant")),
                          mrr=(1.0 / pl.col("first_hit")).fill_null(0.0),
                          hit_rate=(pl.col("hits") > 0).cast(pl.Float64)))
        frames.append(scored.unpivot(index="query_id", variable_name="metric", value_name="value")
                      .with_columns(k=pl.lit(k, dtype=pl.Int64)))
    return pl.concat(frames).select(list(schema)).cast(schema)


def aggregate_ranking_metrics(rankings: pl.DataFrame, ground_truth: pl.DataFrame, ks: Sequence[int]) -> pl.DataFrame:
    """Mean of each ranking metric at each k over the queries that have relevant items."""
    scores = per_query_scores(rankings, ground_truth, ks)
    if scores.is_empty():
        return pl.DataFrame(schema={"metric": pl.String, "k": pl.Int64, "value": pl.Float64, "n_queries": pl.Int64})
    return (scores.group_by("metric", "k").agg(value=pl.col("value").mean(), n_queries=pl.len().cast(pl.Int64))
            .sort("metric", "k"))


# --- beyond accuracy ------------------------------------------------------------------------


def catalog_coverage(rankings: pl.DataFrame, catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-k list."""
    return rankings.filter(pl.col("rank") <= k)["product_id"].n_unique() / catalog_size


def intra_list_diversity(rankings: pl.DataFrame, vectors: Mapping[str, np.ndarray], k: int) -> float:
    """Mean over lists of the mean pairwise cosine distance (1 - cos) between the top-k items'
    L2-normalised vectors. Items without a vector are skipped; lists with < 2 vectors are excluded.
    In [0, 2]; higher is more diverse."""
    values = []
    for items in ranked_lists(rankings.filter(pl.col("rank") <= k)).values():
        vecs = [vectors[i] for i in items if i in vectors]
        if len(vecs) < 2:
            continue
        m = np.asarray(vecs, dtype=np.float64)
        m /= np.linalg.norm(m, axis=1, keepdims=True).clip(1e-12)
        sims = m @ m.T
        n = len(vecs)
        values.append(float((n * n - sims.sum()) / (n * (n - 1))))
    return float(np.mean(values)) if values else float("nan")


def novelty(rankings: pl.DataFrame, item_interactions: Mapping[str, int], n_users: int, k: int) -> float:
    """Mean self-information -log2(p_i) of recommended items, p_i = (users who interacted with i + 1)
    / (n_users + 1) in the training data (add-one so unseen items are finite). Higher = less popular."""
    items = rankings.filter(pl.col("rank") <= k)["product_id"].to_list()
    if not items:
        return float("nan")
    return float(np.mean([-math.log2((item_interactions.get(i, 0) + 1) / (n_users + 1)) for i in items]))


def average_popularity(rankings: pl.DataFrame, item_interactions: Mapping[str, int], k: int) -> float:
    """Average recommendation popularity (ARP): mean training-interaction count of recommended items."""
    items = rankings.filter(pl.col("rank") <= k)["product_id"].to_list()
    return float(np.mean([item_interactions.get(i, 0) for i in items])) if items else float("nan")


def cold_item_share(rankings: pl.DataFrame, cold_items: set[str], k: int) -> float:
    """Share of recommended (top-k) slots that hold an item with no training interaction."""
    items = rankings.filter(pl.col("rank") <= k)["product_id"]
    return float(items.is_in(list(cold_items)).mean()) if items.len() else float("nan")
