"""Precomputed ranked lists (similar items, user lists, style lists) held for point lookups.

The table is kept as columns sorted by list key, with each key's span, so a lookup slices one list
(at most the table's list length) instead of filtering the table.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ListRow:
    product_id: str
    score: float
    reason: str | None
    model: str | None


class RankedLists:
    """``frame``: key, product_id, score, reason, model; rows in list order within each key."""

    def __init__(self, frame: pl.DataFrame, key: Callable[[object], Hashable] = lambda value: value):
        self._rows = frame.select("product_id", "score", "reason", "model")
        runs = frame.select(pl.col("key").rle()).unnest("key")
        self._spans: dict[Hashable, tuple[int, int]] = {}
        start = 0
        for length, value in runs.iter_rows():
            self._spans[key(value)] = (start, length)
            start += length

    @property
    def keys(self) -> list[Hashable]:
        return list(self._spans)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._spans

    def rows(self, key: Hashable, limit: int | None = None) -> list[ListRow]:
        """The list of ``key`` in rank order, its first ``limit`` rows (KeyError for an unknown key)."""
        start, length = self._spans[key]
        # One slice converted row-wise: its cost grows with the rows taken, so a lookup takes only k.
        return [ListRow(*row) for row in self._rows.slice(start, length if limit is None else min(limit, length)).rows()]
