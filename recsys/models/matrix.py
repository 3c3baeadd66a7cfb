"""Interaction rows to the user x item matrix every model trains on.

Each (user, product) pair gets a *strength*: the sum of its events' weights (``EventWeights``),
floored at ``min_strength`` so a pair the user disliked (a 1-star rating) still counts as seen
but weakly. Models turn strength into what they need (ALS: confidence ``1 + alpha * strength``;
the two-tower: which items form a user's history, most recent first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.interactions.schema import RATING_SCALE


# The rating a pair without an explicit rating implies, by its strongest event (MSE targets).
IMPLIED_RATING: dict[str, float] = {"view": 3.0, "click": 3.0, "wishlist": 4.0, "add_to_cart": 4.0, "purchase": 5.0}
DEFAULT_IMPLIED_RATING = 3.0


@dataclass(frozen=True)
class EventWeights:
    """How much one event says the user wants the product."""

    events: Mapping[str, float] = field(default_factory=lambda: {
        "view": 0.5, "click": 1.0, "wishlist": 2.0, "add_to_cart": 2.0, "purchase": 4.0})
    other_event: float = 1.0          # event names a real source sends that are not listed above
    rating_per_star: float = 1.0      # a rating adds (stars - rating_neutral) * rating_per_star
    rating_neutral: float = 3.0
    min_strength: float = 0.1

    def expression(self) -> pl.Expr:
        """The weight of each event row (columns ``event``, ``value``)."""
        lo, hi = RATING_SCALE
        stars = pl.col("value").clip(lo, hi)
        return (pl.when(pl.col("event") == "rating").then((stars - self.rating_neutral) * self.rating_per_star)
                .otherwise(pl.col("event").replace_strict(dict(self.events), default=self.other_event,
                                                          return_dtype=pl.Float64)))


@dataclass(frozen=True)
class Interactions:
    """A user x item strength matrix with its ids; rows and columns are positions in the id arrays.

    Aligned with ``matrix.data``: ``last_seen``, each pair's latest event time in epoch seconds
    (histories are taken most recent first), and ``ratings``, the pair's mean explicit rating, or
    where the user gave none the rating its strongest event implies (``IMPLIED_RATING``).
    """

    user_ids: np.ndarray        # (n_users,) str
    item_ids: np.ndarray        # (n_items,) str
    matrix: sp.csr_matrix       # (n_users, n_items) float32 strength
    last_seen: np.ndarray       # (nnz,) float64 epoch seconds, aligned with matrix.data
    ratings: np.ndarray         # (nnz,) float32 pair rating on RATING_SCALE, aligned with matrix.data

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids.tolist())}

    def item_index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.item_ids.tolist())}

    def item_counts(self) -> np.ndarray:
        """Distinct users per item."""
        return np.bincount(self.matrix.indices, minlength=self.n_items)

    def history(self, row: int, max_items: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Item positions of user ``row`` and their strengths, most recent first (ties by position)."""
        lo, hi = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        items, seen = self.matrix.indices[lo:hi], self.last_seen[lo:hi]
        order = np.lexsort((items, -seen))[:max_items]
        return items[order], self.matrix.data[lo:hi][order]

    @classmethod
    def from_events(cls, events: pl.DataFrame, item_ids: Sequence[str] | None = None,
                    user_ids: Sequence[str] | None = None, weights: EventWeights | None = None) -> Interactions:
        """Aggregate event rows (user_id, product_id, event, value, ts) into pairs.

        ``item_ids`` / ``user_ids`` fix the id universe (e.g. the whole catalog, so items without
        events get empty columns); rows outside it raise. By default the ids are those in ``events``.
        """
        weights = weights or EventWeights()
        implied = pl.col("event").replace_strict(IMPLIED_RATING, default=DEFAULT_IMPLIED_RATING,
                                                  return_dtype=pl.Float64)
        pairs = (events.lazy()
                 .with_columns(weight=weights.expression(), implied=implied,
                               rated=pl.when(pl.col("event") == "rating").then(pl.col("value")))
                 .group_by("user_id", "product_id")
                 .agg(strength=pl.col("weight").sum(), last_seen=pl.col("ts").max(), rated=pl.col("rated").mean(),
                      implied=pl.col("implied").max())
                 .with_columns(strength=pl.col("strength").clip(lower_bound=weights.min_strength),
                               rating=pl.coalesce("rated", "implied").clip(*RATING_SCALE))
                 .collect())
        users = pairs["user_id"].unique().sort() if user_ids is None else pl.Series(list(user_ids), dtype=pl.String)
        items = pairs["product_id"].unique().sort() if item_ids is None else pl.Series(list(item_ids), dtype=pl.String)
        placed = (pairs.lazy()
                  .join(pl.LazyFrame({"user_id": users, "row": np.arange(len(users), dtype=np.int64)}),
                        on="user_id", how="left")
                  .join(pl.LazyFrame({"product_id": items, "col": np.arange(len(items), dtype=np.int64)}),
                        on="product_id", how="left")
                  .collect())
        outside = placed.filter(pl.col("row").is_null() | pl.col("col").is_null())
        if outside.height:
            raise ValueError(f"{outside.height} interaction pairs fall outside the given ids, "
                             f"e.g. {outside.select('user_id', 'product_id').row(0)}")
        placed = placed.sort("row", "col")
        rows, cols = placed["row"].to_numpy(), placed["col"].to_numpy()
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(users)), out=indptr[1:])
        matrix = sp.csr_matrix((placed["strength"].to_numpy().astype(np.float32), cols.astype(np.int32), indptr),
                               shape=(len(users), len(items)))
        last_seen = placed["last_seen"].dt.epoch("us").to_numpy().astype(np.float64) / 1e6
        return cls(users.to_numpy().astype(object), items.to_numpy().astype(object), matrix, last_seen,
                   placed["rating"].to_numpy().astype(np.float32))

