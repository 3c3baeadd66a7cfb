"""Signals: the scores the hybrid re-ranker mixes, each defined for any (query, item) pair.

A signal answers two questions: "what is the score of these candidate items for these queries"
(``pair_scores``, NaN where the signal knows nothing about the query or the item) and "which items
would you propose for these queries" (``search``, a ``recsys.topk.SearchFn`` over the items it
knows). Vector signals cover content similarity, the two-tower score and the ALS score (all
dot products); a prior signal covers per-item scores such as popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.topk import SearchFn, exact_search, prior_search


def _all_known(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)


@dataclass(frozen=True)
class VectorSignal:
    """score(q, i) = query_vectors[q] · item_vectors[i], for known queries and known items."""

    name: str
    query_vectors: np.ndarray            # (n_queries, d) float32
    item_vectors: np.ndarray             # (n_items, d) float32
    query_known: np.ndarray | None = None  # bool (n_queries,); None = all known
    item_known: np.ndarray | None = None   # bool (n_items,); None = all known

    @property
    def queries_known(self) -> np.ndarray:
        return self.query_known if self.query_known is not None else _all_known(len(self.query_vectors))

    @property
    def items_known(self) -> np.ndarray:
        return self.item_known if self.item_known is not None else _all_known(len(self.item_vectors))

    def pair_scores(self, query_rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """(len(query_rows), c) scores of ``candidates`` (item positions, -1 = none); NaN = unknown."""
        gathered = self.item_vectors[candidates.clip(0)]                       # (q, c, d)
        scores = np.matmul(gathered, self.query_vectors[query_rows][:, :, None])[..., 0]
        unknown = (candidates < 0) | ~self.items_known[candidates.clip(0)] | ~self.queries_known[query_rows][:, None]
        return np.where(unknown, np.nan, scores).astype(np.float32)

    def search(self) -> SearchFn:
        """Exact inner-product search over the known items, returning their global positions."""
        known = np.flatnonzero(self.items_known)
        inner = exact_search(self.item_vectors[known])

        def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            scores, local = inner(queries, k)
            return scores, np.where(local >= 0, known[local.clip(0)], -1)

        return search


@dataclass(frozen=True)
class ItemPriorSignal:
    """score(q, i) = values[i] whatever the query: popularity and other per-item priors."""

    name: str
    values: np.ndarray                    # (n_items,) float32
    item_known: np.ndarray | None = None

    @property
    def items_known(self) -> np.ndarray:
        return self.item_known if self.item_known is not None else _all_known(len(self.values))

    def pair_scores(self, query_rows: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        scores = self.values[candidates.clip(0)].astype(np.float32)
        unknown = (candidates < 0) | ~self.items_known[candidates.clip(0)]
        return np.where(unknown, np.nan, scores)

    def search(self) -> SearchFn:
        return prior_search(np.where(self.items_known, self.values, -np.inf))


Signal = VectorSignal | ItemPriorSignal
