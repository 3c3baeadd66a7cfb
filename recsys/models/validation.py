"""A small held-out ranking probe used *during training* (early stopping, per-iteration curves).

The evaluation stage owns the full, reported metrics on the test split; this probe only ranks a
fixed sample of validation users so that a model can watch itself improve. It uses the
evaluation's metric definitions (``recsys.evaluation.metrics``) with binary relevance, items the
user had in training excluded from the ranking; users the model cannot serve count as zeros, so
a model is not rewarded for skipping users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.evaluation.metrics import hit_rate_at_k, ndcg_at_k, recall_at_k
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
        names = (f"recall@{self.k}", f"ndcg@{self.k}", f"hit_rate@{self.k}")
        if not len(self):
            return dict.fromkeys(names, float("nan"))
        top = model.recommend(self.user_ids, self.k, exclude_seen=True)
        ranked = {user: [p for p in items if p is not None]
                  for user, items in zip(top.user_ids.tolist(), top.item_ids.tolist())}
        totals = np.zeros(3)
        for user, relevant in zip(self.user_ids.tolist(), self.relevant):
            items, gains = ranked.get(user, []), dict.fromkeys(relevant, 1.0)
            totals += [recall_at_k(items, gains, self.k), ndcg_at_k(items, gains, self.k),
                       hit_rate_at_k(items, gains, self.k)]
        return {name: float(total / len(self)) for name, total in zip(names, totals)}
