"""Hybrid weights tuned on the validation split by plain coordinate ascent (never on test).

Start from the production defaults; for each signal in turn try every value of its grid with the
other weights held, keep the best validation NDCG@k (ties keep the current value, so the search is
deterministic), and repeat until a full round changes nothing or ``rounds`` is reached. Each trial
re-ranks one precomputed candidate set, so a trial costs a re-rank, not a rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from recsys.evaluation.metrics import aggregate_ranking_metrics

WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class TuningResult:
    weights: dict[str, float]
    objective: str                                   # e.g. "ndcg@10 on validation"
    best: float
    start: float
    trials: list[dict] = field(default_factory=list)  # every weight setting tried, with its score


def validation_score(rankings: pl.DataFrame, truth: pl.DataFrame, metric: str, k: int) -> float:
    scores = aggregate_ranking_metrics(rankings, truth, [k])
    row = scores.filter(pl.col("metric") == metric)
    return float(row["value"].item()) if row.height else 0.0


def coordinate_ascent(rank: Callable[[Mapping[str, float]], pl.DataFrame], truth: pl.DataFrame,
                      start: Mapping[str, float], signals: Sequence[str], metric: str = "ndcg", k: int = 10,
                      grid: Sequence[float] = WEIGHT_GRID, rounds: int = 3) -> TuningResult:
    """Maximise ``metric@k`` of ``rank(weights)`` against ``truth`` (validation ground truth)."""
    current = {s: float(start.get(s, 0.0)) for s in signals}
    trials: list[dict] = []
    cache: dict[tuple, float] = {}

    def score(weights: dict[str, float]) -> float:
        key = tuple(weights[s] for s in signals)
        if key not in cache:
            cache[key] = validation_score(rank(weights), truth, metric, k) if any(key) else float("-inf")
            trials.append({**weights, metric: cache[key]})
        return cache[key]

    first = best = score(current)
    for _ in range(rounds):
        changed = False
        for signal in signals:
            for value in grid:
                trial = {**current, signal: value}
                value_score = score(trial)
                if value_score > best:
                    best, current, changed = value_score, trial, True
        if not changed:
            break
    return TuningResult(weights=current, objective=f"{metric}@{k} on validation", best=best, start=first,
                        trials=trials)


def save_tuned_weights(path: Path, result: TuningResult, defaults: Mapping[str, float]) -> None:
    """Write the tuned weights (atomically) where the tables stage reads them."""
    payload = {"user_recommendations": result.weights, "objective": result.objective,
               "validation_best": result.best, "validation_at_defaults": result.start,
               "defaults": dict(defaults), "trials": len(result.trials)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def load_tuned(path: Path) -> dict | None:
    """The saved tuning payload, or None when weights were never tuned."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else None
