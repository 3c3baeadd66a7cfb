"""The offline evaluation: every model, both tasks, every slice, from data no model saw.

Protocol (what the report states):
- Models are trained on the train split only (ALS, two-tower); validation tunes the hybrid
  weights (``recsys.evaluation.tuning``) and early-stops the two-tower; test scores everything.
- User task: a user's history is train (+ validation at test time: it precedes test in time and no
  model trained on it; the user tower and content profiles read it like a new click). Relevant
  items are the user's test items; owned items are excluded from every list.
- Similar-items task: see ``recsys.evaluation.ground_truth``.
- Beyond accuracy (slice ``all``): catalog coverage, intra-list diversity (cosine distance of
  fused vectors), novelty (self-information of train popularity), average popularity, share of
  cold (no train interaction) items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.evaluation import metrics as m
from recsys.vectors import AlignedVectors

KS: tuple[int, ...] = (5, 10, 20)
MAIN_METRIC = ("ndcg", 10)

METRICS_SCHEMA = {"model": pl.String, "task": pl.String, "slice": pl.String, "metric": pl.String,
                  "k": pl.Int64, "value": pl.Float64, "n_queries": pl.Int64, "build_id": pl.String}
METRICS_COLUMN_DESCRIPTIONS = {
    "model": "The model scored: random, popularity, tfidf, text, image, fused_default, fused_tuned, als, "
             "two_tower, hybrid.",
    "task": "user_recommendations or similar_items.",
    "slice": "Which queries: all, cold_start_users, cold_start_items (users); co_interaction, attributes (items).",
    "metric": "precision, recall, ndcg, map, mrr, hit_rate, coverage, diversity, novelty, ...",
    "k": "The list length the metric was computed at.",
    "value": "The metric's value, averaged over the queries.",
    "n_queries": "How many queries the value averages.",
    "build_id": "The build that computed it.",
}
RANKINGS_SCHEMA = {"model": pl.String, "task": pl.String, "query_id": pl.String, "rank": pl.Int32,
                   "product_id": pl.String, "score": pl.Float32}


@dataclass(frozen=True)
class EvaluationResult:
    metrics: pl.DataFrame        # METRICS_SCHEMA
    rankings: pl.DataFrame       # RANKINGS_SCHEMA
    ground_truth: pl.DataFrame   # recsys.evaluation.ground_truth.TRUTH_SCHEMA

    def value(self, model: str, task: str, slice_name: str, metric: str, k: int) -> float | None:
        return metric_value(self.metrics, model, task, slice_name, metric, k)


def metric_value(metrics: pl.DataFrame, model: str, task: str, slice_name: str, metric: str, k: int) -> float | None:
    """One number of a metrics table (METRICS_SCHEMA), or None when it was not computed."""
    row = metrics.filter(pl.col("model") == model, pl.col("task") == task, pl.col("slice") == slice_name,
                         pl.col("metric") == metric, pl.col("k") == k)
    return float(row["value"].item()) if row.height else None


def _accuracy(model: str, task: str, rankings: pl.DataFrame, truth: pl.DataFrame) -> list[pl.DataFrame]:
    out = []
    for (slice_name,), slice_truth in truth.group_by("slice", maintain_order=True):
        scores = m.aggregate_ranking_metrics(rankings.filter(pl.col("query_id").is_in(slice_truth["query_id"].unique().implode())),
                                             slice_truth, KS)
        out.append(scores.with_columns(model=pl.lit(model), task=pl.lit(task), slice=pl.lit(slice_name)))
    return out


def _beyond(model: str, task: str, rankings: pl.DataFrame, catalog_size: int, vectors: Mapping[str, np.ndarray],
            popularity: Mapping[str, int], n_users: int, cold_items: set[str]) -> pl.DataFrame:
    n_queries = rankings["query_id"].n_unique()
    rows = []
    for k in KS:
        rows += [
            ("coverage", k, m.catalog_coverage(rankings, catalog_size, k)),
            ("diversity", k, m.intra_list_diversity(rankings, vectors, k)),
            ("novelty", k, m.novelty(rankings, popularity, n_users, k)),
            ("avg_popularity", k, m.average_popularity(rankings, popularity, k)),
            ("cold_item_share", k, m.cold_item_share(rankings, cold_items, k)),
        ]
    return pl.DataFrame([(model, task, "all", name, k, value, n_queries) for name, k, value in rows],
                        schema=["model", "task", "slice", "metric", "k", "value", "n_queries"], orient="row")


def score_models(rankings_by_model: Mapping[str, Mapping[str, pl.DataFrame]], truth: pl.DataFrame,
                 products: pl.DataFrame, fused: AlignedVectors, train: pl.DataFrame, build_id: str,
                 sample_vectors: int = 5_000) -> EvaluationResult:
    """Metrics for ``rankings_by_model[task][model]`` against ``truth`` (TRUTH_SCHEMA rows)."""
    product_ids = products["product_id"].to_numpy()
    popularity = dict(train.group_by("product_id").agg(pl.col("user_id").n_unique()).iter_rows())
    n_users = train["user_id"].n_unique()
    cold_items = set(product_ids.tolist()) - set(popularity)
    metric_frames, ranking_frames = [], []
    for task, by_model in rankings_by_model.items():
        task_truth = truth.filter(pl.col("task") == task)
        # Diversity needs the vectors of recommended items only.
        recommended = pl.concat([r.select("product_id") for r in by_model.values()]).unique()["product_id"]
        at = {p: i for i, p in enumerate(product_ids.tolist())}
        vectors = {p: fused.vectors[at[p]] for p in recommended.to_list() if p in at and fused.known[at[p]]}
        for model, rankings in by_model.items():
            metric_frames += _accuracy(model, task, rankings, task_truth)
            metric_frames.append(_beyond(model, task, rankings, len(product_ids), vectors, popularity, n_users,
                                         cold_items))
            ranking_frames.append(rankings.with_columns(model=pl.lit(model), task=pl.lit(task)))
    metrics_df = (pl.concat(metric_frames, how="diagonal_relaxed").with_columns(build_id=pl.lit(build_id))
                  .select(list(METRICS_SCHEMA)).cast(METRICS_SCHEMA).sort("task", "slice", "model", "metric", "k"))
    rankings_df = pl.concat(ranking_frames, how="diagonal_relaxed").select(list(RANKINGS_SCHEMA)).cast(RANKINGS_SCHEMA)
    return EvaluationResult(metrics_df, rankings_df, truth)


def out_of_range(metrics: pl.DataFrame) -> pl.DataFrame:
    """Rows whose value leaves the metric's valid range. NaN is allowed only where undefined: a model that
    ranked no list (``n_queries`` 0, e.g. the image model of a catalog without image vectors) has no
    diversity, novelty or cold-item share; elsewhere a NaN in a bounded metric is a bug."""
    bounded = {"precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage", "cold_item_share"}
    value = pl.col("value")
    undefined = value.is_nan() & (pl.col("n_queries") == 0)
    bad = (pl.when(pl.col("metric").is_in(list(bounded))).then((value < 0) | (value > 1 + 1e-9) | value.is_nan())
           .when(pl.col("metric") == "diversity").then((value < -1e-9) | (value > 2 + 1e-9))
           .otherwise(value < 0))
    return metrics.filter(bad & ~undefined)


def comparison_table(metrics: pl.DataFrame, task: str, metric: str, k: int, slices: Sequence[str]) -> pl.DataFrame:
    """model x slice table of one metric (what the report and the UI show first)."""
    return (metrics.filter(pl.col("task") == task, pl.col("metric") == metric, pl.col("k") == k,
                           pl.col("slice").is_in(list(slices)))
            .pivot(on="slice", index="model", values="value").sort("model"))
