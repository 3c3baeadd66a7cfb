"""Vector columns as matrices, and vectors keyed by product (or user) id aligned to a row order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from recsys.index import IdMap


@dataclass(frozen=True)
class AlignedVectors:
    vectors: np.ndarray      # (n, d) float32; zeros where unknown
    known: np.ndarray        # (n,) bool

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def normalized(self) -> AlignedVectors:
        """Rows scaled to unit length (zero rows stay zero and unknown), so dot products are cosines."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        ok = (norms[:, 0] > 0) & self.known
        vectors = np.where(ok[:, None], self.vectors / np.where(norms > 0, norms, 1.0), 0.0).astype(np.float32)
        return AlignedVectors(vectors, ok)


def vector_matrix(column: pl.Series) -> np.ndarray:
    """A list/array column of equal-length float lists as an (n, d) float32 matrix (null rows -> NaN)."""
    width = column.dtype.size if isinstance(column.dtype, pl.Array) else int(column.list.len().max() or 0)
    return np.asarray(column.cast(pl.Array(pl.Float32, width)).to_numpy(), dtype=np.float32).reshape(len(column), width)


def align(ids: IdMap, keys: list[str], vectors: np.ndarray) -> AlignedVectors:
    """Place ``vectors`` (rows keyed by ``keys``) at the positions of ``ids``; others stay unknown."""
    out = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
    known = np.zeros(len(ids), dtype=bool)
    at = ids.positions_of(keys)
    finite = np.isfinite(vectors).all(axis=1)
    take = (at >= 0) & finite
    out[at[take]] = vectors[take]
    known[at[take]] = True
    return AlignedVectors(out, known)


def align_frame(ids: IdMap, frame: pl.DataFrame, key: str, column: str) -> AlignedVectors:
    """``align`` for a table with one id column and one vector column."""
    return align(ids, frame[key].to_list(), vector_matrix(frame[column]))
