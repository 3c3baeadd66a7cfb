"""Product ids as FAISS ids: a stable 63-bit hash of the product id string.

FAISS stores int64 labels. Using row positions would tie every saved index to one row order of
one table; hashing the product id instead makes a label mean the same product in every build, so
an index, a table and a cache written at different times agree on who is who.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import polars as pl

_POSITIVE_63_BITS = (1 << 63) - 1


def faiss_id(product_id: str) -> int:
    """The FAISS label of ``product_id``: blake2b-64 of its UTF-8 bytes, top bit cleared (>= 0)."""
    digest = hashlib.blake2b(product_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _POSITIVE_63_BITS


class IdMap:
    """Product ids <-> FAISS labels <-> row positions, for one ordered list of products."""

    def __init__(self, product_ids: Sequence[str]):
        self.product_ids = np.asarray(list(product_ids), dtype=object)
        self.labels = np.fromiter((faiss_id(p) for p in self.product_ids), dtype=np.int64,
                                  count=len(self.product_ids))
        self._order = np.argsort(self.labels, kind="stable")
        self._sorted = self.labels[self._order]
        duplicates = np.flatnonzero(self._sorted[1:] == self._sorted[:-1])
        if duplicates.size:
            clash = sorted({str(p) for p in self.product_ids[self._order[duplicates]]})[:5]
            raise ValueError(f"duplicate product ids (or a 63-bit hash collision) in the index input: {clash}")

    def __len__(self) -> int:
        return len(self.product_ids)

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """Row positions of FAISS ``labels`` (any shape); -1 for -1 (no result) or unknown labels."""
        labels = np.asarray(labels, dtype=np.int64)
        at = np.searchsorted(self._sorted, labels).clip(0, max(len(self._sorted) - 1, 0))
        found = (self._sorted[at] == labels) & (labels >= 0) if len(self._sorted) else np.zeros(labels.shape, bool)
        return np.where(found, self._order[at] if len(self._sorted) else -1, -1)

    @cached_property
    def _id_series(self) -> pl.Series:
        return pl.Series("product_id", self.product_ids.tolist(), dtype=pl.String)

    def positions_of(self, product_ids: Sequence[str] | pl.Series) -> np.ndarray:
        """Row positions of product ids (a sequence or a polars String series); -1 where a product is not
        in this map. Matched on the id strings in polars, not hashed one by one: an interaction log
        has millions of rows."""
        wanted = product_ids if isinstance(product_ids, pl.Series) else pl.Series(list(product_ids), dtype=pl.String)
        positions = wanted.cast(pl.String).replace_strict(
            self._id_series, pl.Series(np.arange(len(self), dtype=np.int64)), default=-1, return_dtype=pl.Int64)
        return positions.fill_null(-1).to_numpy()
