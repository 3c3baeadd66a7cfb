"""Popularity: every user gets the items most users interacted with in training (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl

from recsys.models.base import Recommender
from recsys.models.matrix import Interactions


@dataclass(frozen=True)
class PopularityParams:
    pass


class PopularityRecommender(Recommender):
    """Score of an item = the number of distinct training users who interacted with it."""

    name = "popularity"
    Params = PopularityParams

    def __init__(self, params: PopularityParams | None = None):
        super().__init__(params)
        self._set_counts(np.zeros(0, dtype=np.float32))

    def _set_counts(self, counts: np.ndarray) -> None:
        self.counts = counts.astype(np.float32)
        self.order = np.argsort(-self.counts, kind="stable")   # most popular first, ties by position

    def fit(self, train: Interactions) -> Self:
        self._set_train(train)
        self._set_counts(train.item_counts())
        self.summary = {"users": train.n_users, "items": train.n_items, "pairs": train.nnz}
        return self

    def ranked_items(self, k: int) -> np.ndarray:
        """The k most popular item ids (for users the model does not know)."""
        return self.item_ids[self.order[:k]]

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(rows), 1))

    def _top_k(self, rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """The one popularity order, minus each user's items: only the head of the order that can
        hold k unseen items is looked at, not a users x items score matrix."""
        order = self.order
        most_seen = int(np.diff(self.seen.indptr)[rows].max(initial=0)) if exclude_seen else 0
        head = order[:min(len(order), k + most_seen)]
        taken = (self.seen[rows][:, head].toarray() > 0) if exclude_seen else np.zeros((len(rows), len(head)), bool)
        pick = np.argsort(taken, axis=1, kind="stable")[:, :k]          # unseen first, in popularity order
        scores = np.where(np.take_along_axis(taken, pick, axis=1), -np.inf, self.counts[head[pick]])
        return head[pick], scores.astype(np.float32)

    def _pair_scores(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self.counts[item_rows]

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {"users": self.counts.astype(np.int64)}

    def _load_state(self, folder: Path, users: pl.DataFrame, items: pl.DataFrame) -> None:
        self._set_counts(items["users"].to_numpy())
