"""A small held-out ranking probe used *during training* (early stopping, per-iteration curves).

The evaluation stage owns the full, reported metrics on the test split; this probe only ranks a
fixed sample of validation users so that a model can watch itself improve. It computes the
evaluation's metric definitions (``recsys.evaluation.metrics``) for binary relevance in a few
array operations, items the user had in training excluded from the ranking; users the model
cannot serve count as zeros, so a model is not rewarded for skipping users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.models.base import Recommender


@dataclass(frozen=True)
class RankingProbe:
    user_ids: np.ndarray          # (n,) str
    relevant: list[frozenset]     # held-out product ids per user
    k: int = 20

    @classmethod
    def from_events(cls, heldout: pl.DataFrame, k: int = 20, max_users: int = 2000, seed: int = 0) -> RankingProbe:
        """Up to ``max_users`` users (seeded sample, sorted ids) of a held-out event frame."""
        grouped = heldout.group_by("user_id").agg(pl.col("product_id").unique()).sort("user_id")
        if grouped.height > max_users:
            picks = np.sort(np.random.default_rng(seed).choice(grouped.height, max_users, replace=False))
            grouped = grouped[picks]
        return cls(np.asarray(grouped["user_id"].to_list(), dtype=object),
                   [frozenset(items) for items in grouped["product_id"].to_list()], k)

    def __len__(self) -> int:
        return len(self.user_ids)

    def evaluate(self, model: Recommender) -> dict[str, float]:
        """Recall, NDCG and hit rate @k, averaged over the probe's users (binary relevance; the
        same definitions as ``recsys.evaluation.metrics``, vectorised: the probe runs after every
        few ALS iterations, so it must cost little next to one)."""
        k = self.k
        names = (f"recall@{k}", f"ndcg@{k}", f"hit_rate@{k}")
        if not len(self):
            return dict.fromkeys(names, float("nan"))
        n_items = len(model.item_ids)
        counts = np.fromiter((len(r) for r in self.relevant), dtype=np.int64, count=len(self))
        owners = np.repeat(np.arange(len(self)), counts)
        items = model.item_rows([p for relevant in self.relevant for p in relevant])
        wanted = owners[items >= 0] * n_items + items[items >= 0]   # items the model lacks are sure misses
        rows = model.user_rows(self.user_ids.tolist())
        known = np.flatnonzero(rows >= 0)                            # unknown users score zero
        hits = np.zeros((len(self), k), dtype=bool)
        positions, _ = model.rank_rows(rows[known], k, exclude_seen=True)
        hits[known] = (positions >= 0) & np.isin(known[:, None] * n_items + positions, wanted)
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.cumsum(discount)[np.minimum(counts, k) - 1]
        per_user = (hits.sum(axis=1) / counts, (hits * discount).sum(axis=1) / ideal, hits.any(axis=1))
        return {name: float(np.mean(values)) for name, values in zip(names, per_user)}
