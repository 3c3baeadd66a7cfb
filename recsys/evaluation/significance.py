"""Is one model's lead real? A paired bootstrap over the queries both models were scored on.

For one task, slice, metric and k, each query with relevant items has a score under model a and
under model b (a missing list scores 0, as in the aggregates). The difference of the means is
resampled by drawing queries with replacement (``resamples`` times, seeded); the 2.5th and 97.5th
percentiles are the 95% interval (Efron & Tibshirani 1993, percentile bootstrap). Wins/losses
count the queries where a scores above / below b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.evaluation.metrics import per_query_scores


@dataclass(frozen=True)
class PairedDifference:
    n_queries: int
    mean_a: float
    mean_b: float
    difference: float        # mean_a - mean_b
    low: float               # 95% percentile-bootstrap interval of the difference
    high: float
    wins: int                # queries where a > b
    losses: int              # queries where a < b


def _scores(rankings: pl.DataFrame, truth: pl.DataFrame, metric: str, k: int) -> pl.DataFrame:
    return per_query_scores(rankings, truth, [k]).filter(pl.col("metric") == metric).select("query_id", "value")


def paired_difference(rankings: pl.DataFrame, truth: pl.DataFrame, model_a: str, model_b: str, metric: str = "ndcg",
                      k: int = 10, resamples: int = 2_000, seed: int = 0) -> PairedDifference | None:
    """``model_a`` minus ``model_b`` on ``truth`` (one task and slice) from the evaluation rankings
    (``model``, ``query_id``, ``rank``, ``product_id``); None when no query has relevant items."""
    a = _scores(rankings.filter(pl.col("model") == model_a), truth, metric, k)
    b = _scores(rankings.filter(pl.col("model") == model_b), truth, metric, k)
    paired = a.join(b, on="query_id", suffix="_b").sort("query_id")
    if paired.is_empty():
        return None
    first, second = paired["value"].to_numpy(), paired["value_b"].to_numpy()
    delta = first - second
    draws = np.random.default_rng(seed).integers(0, len(delta), size=(resamples, len(delta)))
    means = delta[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(n_queries=len(delta), mean_a=float(first.mean()), mean_b=float(second.mean()),
                            difference=float(delta.mean()), low=float(low), high=float(high),
                            wins=int((delta > 0).sum()), losses=int((delta < 0).sum()))
