"""Exact inner-product search that scores each distinct vector once.

Catalogs repeat themselves: the same product text (and no photo) in several listings gives
identical vectors (about a quarter of the sample's items share their vector with another). Those
items always score the same, so scoring them once and handing the score to every copy saves
that share of the matrix multiply, and it keeps them together at the K-th place, where a tie
group cut by a heap would otherwise have to be searched again.
"""

from __future__ import annotations

import numpy as np

from recsys.topk.blocked import ExactSearch, blocked_topk


def row_groups(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_index=True, return_inverse=True)[1:]`` keyed on each row's
    bytes: one sort key per row instead of one per column (benchmarks/design_measurements.md). Rows
    equal as floats but not as bytes (0.0 and -0.0) are two groups; search stays exact, since
    distinct vectors that tie are put in order like any others."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


class DeduplicatedSearch:
    """Exact search over ``items`` with repeated rows; returns, per query, the exact first ``k`` items
    in (score desc, position asc) order (``prefix_exact``)."""

    exact = True
    prefix_exact = True

    def __init__(self, items: np.ndarray):
        items = np.ascontiguousarray(items, dtype=np.float32)
        first, inverse = row_groups(items)
        # Distinct vectors numbered in order of their first item, so their ties settle by position.
        order = np.argsort(first)
        number = np.empty_like(order)
        number[order] = np.arange(len(order))
        group = number[inverse]
        self.members = np.argsort(group, kind="stable")              # items by (group, position)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=len(order)))])
        self.distinct = ExactSearch(items[first[order]])
        self.n_items = len(items)

    @property
    def n_distinct(self) -> int:
        return len(self.indptr) - 1

    def __call__(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # Repeated queries (the catalog searching itself) get one answer, copied to every copy.
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        first, inverse = row_groups(queries)
        if len(first) == len(queries):
            return self._search(queries, k)
        scores, positions = self._search(queries[first], k)
        return scores[inverse], positions[inverse]

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        # The first k distinct vectors (ties settled by first position) hold the first k items.
        top = blocked_topk(queries, min(k, max(self.n_distinct, 1)), self.distinct, block_rows=max(n, 1),
                           label="distinct vectors")
        rows, columns = np.nonzero(top.positions >= 0)
        groups, scores = top.positions[rows, columns], top.scores[rows, columns]
        sizes = self.indptr[groups + 1] - self.indptr[groups]
        item_rows, item_scores = np.repeat(rows, sizes), np.repeat(scores, sizes)
        offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        items = self.members[np.repeat(self.indptr[groups], sizes) + offsets]
        # Already in (row, score desc) order, each group's items by position; only two groups tied
        # on score can interleave their items, and ties between distinct vectors are rare.
        misplaced = ((item_rows[1:] == item_rows[:-1]) & (item_scores[1:] == item_scores[:-1])
                     & (items[1:] < items[:-1]))
        if misplaced.any():
            order = np.lexsort((items, -item_scores, item_rows))
            item_rows, items, item_scores = item_rows[order], items[order], item_scores[order]
        per_row = np.bincount(item_rows, minlength=n)
        rank = np.arange(len(items)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        keep = rank < k
        out_scores = np.full((n, k), -np.inf, dtype=np.float32)
        out_positions = np.full((n, k), -1, dtype=np.int64)
        out_scores[item_rows[keep], rank[keep]] = item_scores[keep]
        out_positions[item_rows[keep], rank[keep]] = items[keep]
        return out_scores, out_positions


def exact_search(items: np.ndarray) -> ExactSearch | DeduplicatedSearch:
    """Exact inner-product search over ``items``; repeated vectors are scored once."""
    deduplicated = DeduplicatedSearch(items)
    return deduplicated if deduplicated.n_distinct < deduplicated.n_items else deduplicated.distinct
