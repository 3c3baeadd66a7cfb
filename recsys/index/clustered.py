"""Inner-product search over a fixed matrix for answers computed at query time (a new shopper's list).

A full pass over every item vector reads the whole matrix for each query; a clustered index (FAISS
``IndexIVFFlat``) reads only the ``nprobe`` clusters nearest the query. ``nprobe`` is not guessed: it
is raised until recall@k against exact search, on sample queries of the kind the index will answer,
reaches ``target_recall`` (tie-aware, as for the item index: equally good duplicates count). Below
``exact_max_items`` the search is exact (a flat index), where one pass is already cheap.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import faiss
import numpy as np

from recsys.index.item_index import tie_aware_recall

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusteredSearchSettings:
    exact_max_items: int = 20_000
    target_recall: float = 0.97
    recall_k: int = 10
    probe_steps: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    tuning_queries: int = 500
    seed: int = 0

    def n_clusters(self, n_items: int) -> int:
        """About four times the square root of the catalog (FAISS's rule of thumb), 39+ items each."""
        return max(1, min(4 * int(math.sqrt(n_items)), n_items // 39))


@dataclass(frozen=True)
class SearchQuality:
    kind: str               # "flat" (exact) or "ivf"
    clusters: int
    nprobe: int
    recall: float           # tie-aware recall@recall_k on the tuning queries (1.0 when exact)


class InnerProductSearch:
    """``search(queries, k)`` -> (scores, rows of the matrix), best first; -1 rows where fewer than k."""

    def __init__(self, index: faiss.Index, quality: SearchQuality):
        self.index, self.quality = index, quality

    @classmethod
    def build(cls, vectors: np.ndarray, sample_queries: np.ndarray,
              settings: ClusteredSearchSettings = ClusteredSearchSettings()) -> InnerProductSearch:
        """Index ``vectors``; ``sample_queries`` (queries like the ones to come) tune ``nprobe``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        if n <= settings.exact_max_items:
            flat = faiss.IndexFlatIP(dim)
            flat.add(vectors)
            return cls(flat, SearchQuality("flat", 1, 1, 1.0))
        clusters = settings.n_clusters(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, clusters, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = settings.seed
        index.train(vectors)
        index.add(vectors)
        queries = _tuning_sample(sample_queries, settings)
        k = min(settings.recall_k, n)
        _, truth = faiss.knn(queries, vectors, k, faiss.METRIC_INNER_PRODUCT)
        recall, nprobe = 0.0, 1
        for nprobe in (p for p in settings.probe_steps if p <= clusters):
            index.nprobe = nprobe
            _, found = index.search(queries, k)
            recall = tie_aware_recall(found, truth, queries, vectors)
            log.info("clustered search: nprobe=%d of %d clusters, recall@%d=%.4f", nprobe, clusters, k, recall)
            if recall >= settings.target_recall:
                break
        else:
            # No step reached the target: every cluster is searched, which is exact.
            nprobe = index.nprobe = clusters
            recall = 1.0
        return cls(index, SearchQuality("ivf", clusters, nprobe, round(recall, 4)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def _tuning_sample(queries: np.ndarray, settings: ClusteredSearchSettings) -> np.ndarray:
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    queries = queries[np.linalg.norm(queries, axis=1) > 0]
    if len(queries) == 0:
        raise ValueError("no non-zero sample query to tune the clustered search with")
    if len(queries) > settings.tuning_queries:
        rows = np.random.default_rng(settings.seed).choice(len(queries), settings.tuning_queries, replace=False)
        queries = queries[np.sort(rows)]
    return queries
