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
        self.counts = np.zeros(0, dtype=np.float32)

    def fit(self, train: Interactions) -> Self:
        self._set_ids(train.user_ids, train.item_ids, train.matrix)
        self.counts = train.item_counts().astype(np.float32)
        self.summary = {"users": train.n_users, "items": train.n_items, "pairs": train.nnz}
        return self

    def ranked_items(self, k: int) -> np.ndarray:
        """The k most popular item ids (for users the model does not know)."""
        order = np.argsort(-self.counts, kind="stable")[:k]
        return self.item_ids[order]

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(rows), 1))

    def _pair_scores(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self.counts[item_rows]

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {"users": self.counts.astype(np.int64)}

    def _load_state(self, folder: Path, users: pl.DataFrame, items: pl.DataFrame) -> None:
        self.counts = items["users"].to_numpy().astype(np.float32)
