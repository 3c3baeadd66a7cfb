"""Interaction rows to the user x item matrix every model trains on.

Each (user, product) pair gets a *strength*: the sum of its events' weights (``EventWeights``),
floored at ``min_strength`` so a pair the user disliked (a 1-star rating) still counts as seen
but weakly. Models turn strength into what they need (ALS: confidence ``1 + alpha * strength``;
the two-tower: which items form a user's history, most recent first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
        """Row of each user id; built once and shared by every model fitted on this matrix (read only)."""
        return self._user_index

    def item_index(self) -> dict[str, int]:
        """Column of each item id; built once and shared like :meth:`user_index`."""
        return self._item_index

    @cached_property
    def _user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids.tolist())}

    @cached_property
    def _item_index(self) -> dict[str, int]:
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
        events get empty columns); rows outside it raise. By default the ids are those in ``events``,
        sorted.

        Events are keyed by ``row * n_items + col`` (ids as Enum codes) and aggregated with one
        numpy sort and ``reduceat``: half the time of a polars group-by on the two string columns
        plus joins back to positions, which the ALS stage pays on every build.
        """
        weights = weights or EventWeights()
        users = _id_series(events["user_id"], user_ids, "user_ids")
        items = _id_series(events["product_id"], item_ids, "item_ids")
        implied = pl.col("event").replace_strict(IMPLIED_RATING, default=DEFAULT_IMPLIED_RATING,
                                                  return_dtype=pl.Float64)
        coded = events.select(
            row=pl.col("user_id").cast(pl.Enum(users), strict=False).to_physical().cast(pl.Int64),
            col=pl.col("product_id").cast(pl.Enum(items), strict=False).to_physical().cast(pl.Int64),
            weight=weights.expression().fill_null(0.0),
            implied=implied.fill_null(DEFAULT_IMPLIED_RATING),
            rated=pl.when(pl.col("event") == "rating").then(pl.col("value")).fill_null(float("nan")),
            ts=pl.col("ts").dt.epoch("us"),
        )
        outside = coded["row"].is_null() | coded["col"].is_null()
        if outside.any():
            example = events.filter(outside).select("user_id", "product_id").row(0)
            raise ValueError(f"{int(outside.sum())} interaction rows fall outside the given ids, e.g. {example}")
        key = coded["row"].to_numpy() * len(items) + coded["col"].to_numpy()
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])[:len(key)]   # first event of each pair

        def per_pair(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
            return ufunc.reduceat(values[order], starts) if len(starts) else values[:0]

        rated = coded["rated"].to_numpy()
        n_rated = per_pair(np.add, (~np.isnan(rated)).astype(np.int64))
        mean_rated = per_pair(np.add, np.nan_to_num(rated)) / np.maximum(n_rated, 1)
        rating = np.where(n_rated > 0, mean_rated, per_pair(np.maximum, coded["implied"].to_numpy()))
        strength = np.maximum(per_pair(np.add, coded["weight"].to_numpy()), weights.min_strength)
        rows, cols = np.divmod(key[starts], max(len(items), 1))
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(users)), out=indptr[1:])
        matrix = sp.csr_matrix((strength.astype(np.float32), cols.astype(np.int32), indptr),
                               shape=(len(users), len(items)))
        return cls(users.to_numpy().astype(object), items.to_numpy().astype(object), matrix,
                   per_pair(np.maximum, coded["ts"].to_numpy()).astype(np.float64) / 1e6,
                   np.clip(rating, *RATING_SCALE).astype(np.float32))


def _id_series(column: pl.Series, given: Sequence[str] | None, name: str) -> pl.Series:
    """The id universe: ``given`` (must be unique) or the sorted distinct values of ``column``."""
    if given is None:
        return column.drop_nulls().unique().sort()
    ids = pl.Series(list(given), dtype=pl.String)
    if ids.is_duplicated().any():
        raise ValueError(f"{name} must be unique; e.g. {ids.filter(ids.is_duplicated())[0]!r} repeats")
    return ids
