"""Hybrid re-ranking: a weighted mix of min-max normalised signals over each query's candidates.

For query q and candidate i every signal s gives a raw score r_s(q, i) (NaN = unknown). Within q's
candidate list the known scores are min-max scaled to [0, 1] (all equal -> 1) and unknown ones
count 0. Then

    score(q, i) = sum_s w_s * n_s(q, i) / sum_{s available for q} w_s      (in [0, 1])

where s is *available* for q when it scores at least one of q's candidates: a cold user has no
ALS factors, so ALS drops out of that user's mix instead of pulling every item down. This is
CombSUM over min-max normalised scores (Fox & Shaw 1994; Lee 1997). Ties keep the lower item
position, so the order is deterministic.

Each kept row also says which signal contributed most (``dominant``, what its reason is built
from) and each query which model produced it: "hybrid" when two or more signals were available,
else the one signal's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.recommend.signals import Signal
from recsys.topk import TopK

HYBRID_MODEL = "hybrid"


@dataclass(frozen=True)
class Ranked:
    topk: TopK                       # final positions and hybrid scores
    signal_names: tuple[str, ...]    # the signals that took part (weight > 0), in order
    dominant: np.ndarray             # (n, k) int8 index into signal_names; -1 on padding
    models: np.ndarray               # (n,) object: "hybrid", a signal name, or None (no signal knew the query)
    raw: dict[str, np.ndarray]       # signal name -> (n, k) raw scores of the kept rows (NaN = unknown)

    def rows(self) -> pl.DataFrame:
        """One row per kept (query, item): query, rank (1-based), item, score, signal (dominant), model."""
        valid = self.topk.positions >= 0
        query, column = np.nonzero(valid)          # row-major: ranks ascend within each query
        names = np.array(self.signal_names, dtype=object)
        return pl.DataFrame({
            "query": query.astype(np.int64),
            "rank": (column + 1).astype(np.int32),
            "item": self.topk.positions[valid],
            "score": self.topk.scores[valid],
            "signal": pl.Series(names[self.dominant[valid]].tolist(), dtype=pl.String),
            "model": pl.Series(self.models[query].tolist(), dtype=pl.String),
        })


def pair_score_table(candidates: np.ndarray, signals: Sequence[Signal], query_rows: np.ndarray | None = None,
                     block_rows: int = 256) -> dict[str, np.ndarray]:
    """Each signal's raw scores of every candidate, (n, c) float32 by signal name (NaN = unknown): what
    ``rerank`` computes first. The weights do not change them, so a tuning that re-ranks one candidate set
    with many weight settings computes them once and passes them to every ``rerank``."""
    query_rows = np.arange(len(candidates)) if query_rows is None else np.asarray(query_rows)
    table = {s.name: np.empty(candidates.shape, dtype=np.float32) for s in signals}
    for start in range(0, len(candidates), block_rows):
        stop = min(start + block_rows, len(candidates))
        for s in signals:
            table[s.name][start:stop] = s.pair_scores(query_rows[start:stop], candidates[start:stop])
    return table


def rerank(candidates: np.ndarray, signals: Sequence[Signal], weights: Mapping[str, float], k: int,
           query_rows: np.ndarray | None = None, block_rows: int = 256,
           pair_scores: Mapping[str, np.ndarray] | None = None) -> Ranked:
    """The ``k`` best of each row of ``candidates`` (item positions, -1 = none) by the weighted mix.

    ``query_rows[i]`` is the signals' query index for candidate row i (default: i). ``pair_scores``:
    the signals' scores of these candidates from ``pair_score_table``, instead of computing them.
    """
    active = [s for s in signals if weights.get(s.name, 0.0) > 0]
    if not active:
        raise ValueError(f"no signal has a positive weight: weights {dict(weights)}, signals {[s.name for s in signals]}")
    names = tuple(s.name for s in active)
    w = np.array([weights[n] for n in names], dtype=np.float32)
    n = len(candidates)
    query_rows = np.arange(n) if query_rows is None else np.asarray(query_rows)
    positions = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    dominant = np.full((n, k), -1, dtype=np.int8)
    raw_kept = {name: np.full((n, k), np.nan, dtype=np.float32) for name in names}
    models = np.full(n, None, dtype=object)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        cands = candidates[start:stop]
        raw = np.stack([pair_scores[s.name][start:stop] if pair_scores is not None
                        else s.pair_scores(query_rows[start:stop], cands) for s in active])    # (S, q, c)
        known = ~np.isnan(raw)
        low = np.where(known, raw, np.inf).min(axis=2, keepdims=True)
        high = np.where(known, raw, -np.inf).max(axis=2, keepdims=True)
        spread = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = np.where(spread > 0, (raw - low) / spread, 1.0)
        normalised = np.where(known, normalised, 0.0)
        available = known.any(axis=2)                                                 # (S, q)
        denominator = (w[:, None] * available).sum(axis=0)                            # (q,)
        contribution = w[:, None, None] * normalised                                  # (S, q, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            mixed = contribution.sum(axis=0) / denominator[:, None]
        mixed = np.where((cands >= 0) & (denominator[:, None] > 0), mixed, -np.inf).astype(np.float32)
        tiebreak = np.where(cands >= 0, cands, np.iinfo(np.int64).max)
        order = np.lexsort((tiebreak, -mixed), axis=-1)[:, :k]
        width = order.shape[1]
        kept_scores = np.take_along_axis(mixed, order, axis=1)
        valid = np.isfinite(kept_scores)
        scores[start:stop, :width] = kept_scores
        positions[start:stop, :width] = np.where(valid, np.take_along_axis(cands, order, axis=1), -1)
        # The largest weighted contribution; among zero contributions, the heaviest available signal.
        strength = contribution + 1e-6 * (w[:, None] * available)[:, :, None]
        best = np.take_along_axis(strength.argmax(axis=0), order, axis=1)
        dominant[start:stop, :width] = np.where(valid, best, -1)
        for i, name in enumerate(names):
            raw_kept[name][start:stop, :width] = np.take_along_axis(raw[i], order, axis=1)
        n_available = available.sum(axis=0)
        single = np.array(names, dtype=object)[available.argmax(axis=0)]
        models[start:stop] = np.where(n_available >= 2, HYBRID_MODEL, np.where(n_available == 1, single, None))
    return Ranked(topk=TopK(positions=positions, scores=scores), signal_names=names, dominant=dominant,
                  models=models, raw=raw_kept)
