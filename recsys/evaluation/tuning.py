"""Weights tuned on the validation split (never on test), saved where the tables read them.

- Text/image fusion: a plain grid over the image weight (text = 1 - image), each value scored by
  a validation objective of the content model; ties keep the earlier grid value.
- Re-ranking weights (user_recommendations, similar_items): coordinate ascent. Start from the
  production defaults; for each signal in turn try every value of its grid with the other weights
  held, keep the best validation objective (ties keep the current value, so the search is
  deterministic), and repeat until a full round changes nothing or ``rounds`` is reached. Each
  trial re-ranks one precomputed candidate set, so a trial costs a re-rank, not a rebuild.

The saved JSON (``save_tuned_weights``) holds ``user_recommendations`` and ``similar_items``
(signal -> weight), ``fusion`` ({"image": w, "text": 1 - w}) and, under ``validation``, each
search's objective, its value at the defaults and tuned, and its trials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recsys import storage
from recsys.evaluation.metrics import aggregate_ranking_metrics

WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
FUSION_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)


OBJECTIVE = "objective"   # the key of the maximised value in every trial's scores


@dataclass(frozen=True)
class TuningResult:
    weights: dict[str, float]
    objective: str                                   # what was maximised, e.g. "ndcg@10 on validation"
    best: float
    start: float                                     # the objective at the default weights
    trials: list[dict] = field(default_factory=list)  # every weight setting tried, with its scores


@dataclass(frozen=True)
class FusionTuning:
    image_weight: float                              # text weight is 1 - image_weight
    objective: str
    best: float
    start: float                                     # the objective for the stored (default) fused vector
    trials: list[dict] = field(default_factory=list)  # image_weight + every validation score


def validation_score(rankings: pl.DataFrame, truth: pl.DataFrame, metric: str, k: int) -> float:
    """Mean ``metric@k`` of ``rankings`` over the queries of ``truth`` (0 when truth is empty)."""
    scores = aggregate_ranking_metrics(rankings, truth, [k])
    row = scores.filter(pl.col("metric") == metric)
    return float(row["value"].item()) if row.height else 0.0


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean (0 if any value is 0): objectives of different scales count by relative change."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or (values <= 0).any():
        return 0.0
    return float(np.exp(np.log(values).mean()))


def coordinate_ascent(score: Callable[[Mapping[str, float]], Mapping[str, float]], start: Mapping[str, float],
                      signals: Sequence[str], objective: str, grid: Sequence[float] = WEIGHT_GRID,
                      rounds: int = 3) -> TuningResult:
    """Maximise ``score(weights)[OBJECTIVE]`` (validation scores) over the weights of ``signals``."""
    current = {s: float(start.get(s, 0.0)) for s in signals}
    trials: list[dict] = []
    cache: dict[tuple, float] = {}

    def value(weights: dict[str, float]) -> float:
        key = tuple(weights[s] for s in signals)
        if key not in cache:
            scores = dict(score(weights)) if any(key) else {OBJECTIVE: float("-inf")}
            cache[key] = scores[OBJECTIVE]
            trials.append({**weights, **scores})
        return cache[key]

    first = best = value(current)
    for _ in range(rounds):
        changed = False
        for signal in signals:
            for candidate in grid:
                trial = {**current, signal: candidate}
                trial_value = value(trial)
                if trial_value > best:
                    best, current, changed = trial_value, trial, True
        if not changed:
            break
    return TuningResult(weights=current, objective=objective, best=best, start=first, trials=trials)


def tune_fusion(score: Callable[[float | None], Mapping[str, float]], objective: str,
                grid: Sequence[float] = FUSION_GRID) -> FusionTuning:
    """The grid ``image_weight`` maximising ``score(w)[OBJECTIVE]`` (``score(None)``: the stored default)."""
    default = float(score(None)[OBJECTIVE])
    trials = [{"image_weight": w, **score(w)} for w in grid]
    best = max(trials, key=lambda t: t[OBJECTIVE])          # first of equal scores: deterministic
    return FusionTuning(image_weight=best["image_weight"], objective=objective, best=float(best[OBJECTIVE]),
                        start=default, trials=trials)


def _summary(result: TuningResult, defaults: Mapping[str, float]) -> dict:
    return {"objective": result.objective, "at_defaults": result.start, "tuned": result.best,
            "defaults": dict(defaults), "trials": len(result.trials)}


def save_tuned_weights(path: Path, user: TuningResult, user_defaults: Mapping[str, float], similar: TuningResult,
                       similar_defaults: Mapping[str, float], fusion: FusionTuning) -> None:
    """Write the tuned weights (atomically) where the index and the tables stage read them."""
    payload = {
        "user_recommendations": user.weights,
        "similar_items": similar.weights,
        "fusion": {"image": fusion.image_weight, "text": 1.0 - fusion.image_weight},
        "validation": {
            "user_recommendations": _summary(user, user_defaults),
            "similar_items": _summary(similar, similar_defaults),
            "fusion": {"objective": fusion.objective, "at_defaults": fusion.start, "tuned": fusion.best,
                       "trials": fusion.trials},
        },
    }
    storage.write_text_atomic(path, json.dumps(payload, indent=2))


def load_tuned(path: Path) -> dict | None:
    """The saved tuning payload, or None when weights were never tuned."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def tuned_image_weight(tuned: Mapping | None) -> float | None:
    """The tuned image weight of the fused vector, or None (use the stored fused vector)."""
    return float(tuned["fusion"]["image"]) if tuned and "fusion" in tuned else None
