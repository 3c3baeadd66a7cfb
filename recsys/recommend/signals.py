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


PAIR_CHUNK_BYTES = 1 << 20   # candidate vectors gathered at once by VectorSignal.pair_scores


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
        safe = candidates.clip(0)
        scores = np.empty(candidates.shape, dtype=np.float32)
        # The candidates' vectors are gathered a few rows at a time, so the product reads them from
        # cache: a whole block of query rows gathers far more vectors than any cache holds, a chunk
        # of PAIR_CHUNK_BYTES stays in it. Each dot product is a multiply and a sum over its own row,
        # never a BLAS product: BLAS kernels round a row by where it falls in the block (AVX-512 tails),
        # so a pair would score one ulp apart in a nightly refresh and a full build and swap a tie.
        row_bytes = candidates.shape[1] * self.item_vectors.shape[1] * self.item_vectors.itemsize
        step = max(1, PAIR_CHUNK_BYTES // max(1, row_bytes))
        for start in range(0, len(query_rows), step):
            gathered = self.item_vectors[safe[start:start + step]]                      # (rows, c, d)
            queries = self.query_vectors[query_rows[start:start + step]][:, None, :]    # (rows, 1, d)
            np.multiply(gathered, queries, out=gathered)
            scores[start:start + step] = gathered.sum(axis=2)
        unknown = (candidates < 0) | ~self.items_known[safe] | ~self.queries_known[query_rows][:, None]
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
