"""Baselines that need no trained model: random and TF-IDF text similarity.

TF-IDF is exact sparse cosine similarity (scikit-learn's TfidfVectorizer, sublinear tf, l2 rows)
over the same product text the text encoder reads; a user is the mean of their items' rows.
Scores are computed in blocks of queries, so memory is blocks x catalog, never catalog x catalog.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

RANKING_SCHEMA = {"query_id": pl.String, "rank": pl.Int32, "product_id": pl.String, "score": pl.Float32}


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns per row (score desc, column asc); excluded entries are -inf and dropped later."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def _rows_to_frame(query_ids: list[str], positions: np.ndarray, scores: np.ndarray,
                   product_ids: np.ndarray) -> pl.DataFrame:
    n, k = positions.shape
    frame = pl.DataFrame({
        "query_id": np.repeat(np.asarray(query_ids, dtype=object), k).tolist(),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
        "product_id": product_ids[positions.reshape(-1)].tolist(),
        "score": scores.reshape(-1).astype(np.float32),
    }, schema=RANKING_SCHEMA)
    return (frame.filter(pl.col("score").is_finite())
            .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("query_id")))


def rank_by_scores(query_ids: list[str], score_block, exclude: sp.csr_matrix, k: int,
                   product_ids: np.ndarray, block: int = 512) -> pl.DataFrame:
    """Top-k per query from ``score_block(lo, hi) -> (hi-lo, n_items)`` with ``exclude`` rows masked."""
    frames = []
    for lo in range(0, len(query_ids), block):
        hi = min(lo + block, len(query_ids))
        scores = np.asarray(score_block(lo, hi), dtype=np.float32)
        mask = exclude[lo:hi].tocoo()
        scores[mask.row, mask.col] = -np.inf
        positions, top = _top_k(scores, k)
        frames.append(_rows_to_frame(query_ids[lo:hi], positions, top, product_ids))
    return pl.concat(frames) if frames else pl.DataFrame(schema=RANKING_SCHEMA)


def random_rankings(query_ids: list[str], exclude: sp.csr_matrix, k: int, product_ids: np.ndarray,
                    seed: int = 0) -> pl.DataFrame:
    """Uniformly random items per query (seeded), excluding the query's own items."""
    rng = np.random.default_rng(seed)
    return rank_by_scores(query_ids, lambda lo, hi: rng.random((hi - lo, len(product_ids)), dtype=np.float32),
                          exclude, k, product_ids)


class TfidfModel:
    """TF-IDF rows for every product (aligned to ``product_ids``)."""

    def __init__(self, texts: list[str], max_features: int = 50_000):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=max_features,
                                          ngram_range=(1, 2), dtype=np.float32)
        self.matrix = self.vectorizer.fit_transform(texts).tocsr()   # rows are l2-normalised

    def user_profiles(self, owned: sp.csr_matrix) -> sp.csr_matrix:
        """Mean TF-IDF row of each user's items (``owned``: users x items, 1 where owned)."""
        counts = np.asarray(owned.sum(axis=1)).ravel()
        scale = sp.diags(np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(np.float32))
        return (scale @ owned.astype(np.float32) @ self.matrix).tocsr()

    def rank(self, query_ids: list[str], queries: sp.csr_matrix, exclude: sp.csr_matrix, k: int,
             product_ids: np.ndarray) -> pl.DataFrame:
        """Top-k products by cosine to each query row; queries with an empty row get nothing."""
        empty = np.diff(queries.indptr) == 0

        def scores(lo: int, hi: int) -> np.ndarray:
            block = (queries[lo:hi] @ self.matrix.T).toarray()
            block[empty[lo:hi]] = -np.inf
            return block

        return rank_by_scores(query_ids, scores, exclude, k, product_ids)
