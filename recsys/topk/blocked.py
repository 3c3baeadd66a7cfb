"""Blocked batch top-K: every query's best K items without ever holding a queries x items matrix.

Queries are processed in blocks; for each block a *search function* returns the block's best
``k + e`` items (``e`` = the most exclusions any query of the block has), excluded items are
dropped, and each row is ordered by score then by item position, so equal scores always come
out in the same order. Memory is O(block_rows x (k + e)) on top of what the search needs.

A search function is ``search(queries_block, k) -> (scores, positions)`` with arrays of shape
``(len(queries_block), k)``; position -1 means "no item" (fewer than k exist). The exact one here
is FAISS's BLAS-blocked inner-product k-NN, which keeps a small heap per query instead of sorting
whole score rows; ``recsys.index.ItemIndex.search`` has the same shape, so HNSW plugs in too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

log = logging.getLogger(__name__)

SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]

DEFAULT_K = 50
DEFAULT_BLOCK_ROWS = 16_384
_NO_ITEM = np.iinfo(np.int64).max   # sorts after every real position


@dataclass(frozen=True)
class TopK:
    """Per query, the best items in rank order.

    positions: (n_queries, k) int64 item positions, -1 where fewer than k items qualify.
    scores:    (n_queries, k) float32, -inf where the position is -1.
    """

    positions: np.ndarray
    scores: np.ndarray

    @property
    def k(self) -> int:
        return self.positions.shape[1]

    def counts(self) -> np.ndarray:
        """How many real items each query got (K, or fewer when the catalog runs out)."""
        return (self.positions >= 0).sum(axis=1)


@dataclass(frozen=True)
class Exclusions:
    """Items each query must never get back, as CSR: query q excludes ``indices[indptr[q]:indptr[q+1]]``."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def nothing(cls, n_queries: int) -> Exclusions:
        return cls(np.zeros(n_queries + 1, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def own_position(cls, n_queries: int) -> Exclusions:
        """Query i excludes item i: item-to-item search where queries are the catalog itself."""
        return cls(np.arange(n_queries + 1, dtype=np.int64), np.arange(n_queries, dtype=np.int64))

    @classmethod
    def from_pairs(cls, query_positions: np.ndarray, item_positions: np.ndarray, n_queries: int) -> Exclusions:
        """From parallel arrays of (query, excluded item); duplicates are harmless."""
        query_positions = np.asarray(query_positions, dtype=np.int64)
        item_positions = np.asarray(item_positions, dtype=np.int64)
        order = np.lexsort((item_positions, query_positions))
        counts = np.bincount(query_positions, minlength=n_queries)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, item_positions[order])

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]]) -> Exclusions:
        queries = np.repeat(np.arange(len(lists), dtype=np.int64), [len(x) for x in lists])
        items = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0, np.int64)
        return cls.from_pairs(queries, items, len(lists))

    def take(self, rows: np.ndarray) -> Exclusions:
        """The exclusions of queries ``rows``, renumbered 0..len(rows)-1."""
        counts = np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        gather = np.repeat(self.indptr[rows] - indptr[:-1], counts) + np.arange(indptr[-1])
        return Exclusions(indptr, self.indices[gather])

    def union(self, other: Exclusions) -> Exclusions:
        n = len(self.indptr) - 1
        q = np.concatenate([np.repeat(np.arange(n), np.diff(self.indptr)), np.repeat(np.arange(n), np.diff(other.indptr))])
        return Exclusions.from_pairs(q, np.concatenate([self.indices, other.indices]), n)

    def most_in(self, start: int, stop: int) -> int:
        return int(np.diff(self.indptr[start:stop + 1]).max(initial=0))

    def pair_keys(self, start: int, stop: int) -> np.ndarray:
        """(local query row << 32) | item for every exclusion of queries [start, stop)."""
        lo, hi = self.indptr[start], self.indptr[stop]
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(self.indptr[start:stop + 1]))
        return (rows << 32) | self.indices[lo:hi]


class ExactSearch:
    """Exact inner-product search over ``items`` (n_items, d) float32, BLAS-blocked by FAISS.

    ``exact = True`` tells ``blocked_topk`` that a larger k returns a superset, so it may settle
    ties at the K-th place by asking again (FAISS's heaps keep an arbitrary member of a tie group).
    """

    exact = True

    def __init__(self, items: np.ndarray):
        self.items = np.ascontiguousarray(items, dtype=np.float32)

    def __call__(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.items) == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        return faiss.knn(np.ascontiguousarray(queries, dtype=np.float32), self.items, k,
                         metric=faiss.METRIC_INNER_PRODUCT)


class PriorSearch:
    """The same global ranking for every query: items by descending ``prior`` (ties: lower position).

    ``prefix_exact``: what it returns is already the exact head of that order.
    """

    prefix_exact = True

    def __init__(self, prior: np.ndarray):
        self.prior = np.asarray(prior, dtype=np.float32)
        self.order = np.lexsort((np.arange(len(self.prior)), -self.prior))

    def __call__(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        top = self.order[:k]
        positions = np.full(k, -1, np.int64)
        positions[: len(top)] = top
        scores = np.where(positions >= 0, self.prior[positions.clip(0)], -np.inf).astype(np.float32)
        return np.tile(scores, (len(queries), 1)), np.tile(positions, (len(queries), 1))


def prior_search(prior: np.ndarray) -> PriorSearch:
    return PriorSearch(prior)


def _select(scores: np.ndarray, positions: np.ndarray, excluded_keys: np.ndarray | None,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop invalid/excluded entries, order by (score desc, position asc), keep ``k`` columns."""
    missing = positions < 0
    invalid = missing.copy()
    if excluded_keys is not None and len(excluded_keys):
        rows = np.arange(len(positions), dtype=np.int64)[:, None]
        invalid |= np.isin((rows << 32) | positions.clip(0), excluded_keys)
    # Prefix-exact searches answer in rank order already, and dropping entries keeps that order:
    # a stable partition (a radix sort of a bool) then replaces the sort.
    ordered = _in_rank_order(np.where(missing, -np.inf, scores), np.where(missing, _NO_ITEM, positions))
    scores = np.where(invalid, -np.inf, scores)
    positions = np.where(invalid, _NO_ITEM, positions)
    if ordered:
        order = np.argsort(invalid, axis=1, kind="stable")[:, :k]
    else:
        order = np.lexsort((positions, -scores), axis=-1)[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1)
    top_positions = np.take_along_axis(positions, order, axis=1)
    return top_scores, np.where(np.isneginf(top_scores), -1, top_positions)


def best_k_candidates(scores: np.ndarray, positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best ``k`` entries, ordered by (score desc, position asc); position -1 is an empty
    slot. Returns (scores, positions), padded with -inf / -1."""
    return _select(scores, positions, None, k)


def _in_rank_order(scores: np.ndarray, positions: np.ndarray) -> bool:
    """Every row in (score desc, position asc) order (padding: -inf scores, ``_NO_ITEM`` positions)."""
    higher = scores[:, 1:] < scores[:, :-1]
    return bool(np.all(higher | ((scores[:, 1:] == scores[:, :-1]) & (positions[:, 1:] >= positions[:, :-1]))))


def _tied_at_k(fetched_scores: np.ndarray, fetched_positions: np.ndarray, top_scores: np.ndarray) -> np.ndarray:
    """Rows whose last fetched item scores as high as the K-th kept one: items the search did not
    return may tie with the K-th place too."""
    last = np.where(fetched_positions[:, -1] >= 0, fetched_scores[:, -1], -np.inf)
    return np.isfinite(top_scores[:, -1]) & (last >= top_scores[:, -1])


def _row_keys(keys: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """Exclusion keys of block rows ``rows`` (sorted), renumbered 0..len(rows)-1."""
    if keys is None:
        return None
    row_of = keys >> 32
    keep = np.isin(row_of, rows)
    return (np.searchsorted(rows, row_of[keep]) << 32) | (keys[keep] & 0xFFFFFFFF)


def blocked_topk(queries: np.ndarray, k: int, search: SearchFn, exclusions: Exclusions | None = None,
                 block_rows: int = DEFAULT_BLOCK_ROWS, label: str = "top-K") -> TopK:
    """The best ``k`` items for each query row, excluded items removed, in (score desc, position) order.

    Rows that have fewer than ``k`` admissible items (small catalog, many exclusions) are padded
    with position -1 / score -inf. ``k`` larger than the catalog is fine. With an exact search
    the result equals a full sort of every row: a search marked ``prefix_exact`` already returns
    the exact head of that order; one marked ``exact`` (a larger k returns a superset) has each
    row whose K-th score ties with the last item fetched asked again with four times the k until
    the tie group is whole. Approximate searches decide which member of such a tie group comes back.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = len(queries)
    positions = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    settle_ties = getattr(search, "exact", False) and not getattr(search, "prefix_exact", False)
    started, refetched = time.perf_counter(), 0
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        block = queries[start:stop]
        extra = exclusions.most_in(start, stop) if exclusions is not None else 0
        keys = exclusions.pair_keys(start, stop) if extra else None
        fetch = k + extra + 1      # one more than needed, to see whether the K-th place ties onward
        fetched_scores, fetched_positions = (np.asarray(a) for a in search(block, fetch))
        top_scores, top_positions = _select(fetched_scores.astype(np.float32), fetched_positions.astype(np.int64),
                                            keys, k)
        tied = np.flatnonzero(_tied_at_k(fetched_scores, fetched_positions, top_scores)) if settle_ties else []
        while len(tied):
            fetch *= 4
            refetched += len(tied)
            again_scores, again_positions = (np.asarray(a) for a in search(block[tied], fetch))
            settled_scores, settled_positions = _select(again_scores.astype(np.float32),
                                                        again_positions.astype(np.int64), _row_keys(keys, tied), k)
            top_scores[tied], top_positions[tied] = settled_scores, settled_positions
            tied = tied[_tied_at_k(again_scores, again_positions, settled_scores)]
        width = top_scores.shape[1]
        scores[start:stop, :width] = top_scores
        positions[start:stop, :width] = top_positions
        elapsed = time.perf_counter() - started
        log.info("%s: %d/%d queries (%.0f queries/s, %d asked again for ties)", label, stop, n,
                 stop / max(elapsed, 1e-9), refetched)
    return TopK(positions=positions, scores=scores)
