"""64-bit hashes of ids that depend on the id (and a salt) alone: the same in every run, process and
library version (Python's and polars' hashes are not), for draws and fingerprints that must not move."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def stable_hash64(ids: Iterable, salt: str = "") -> np.ndarray:
    """uint64 per id: the first 8 bytes of blake2b(salt + str(id))."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{salt}{i}".encode(), digest_size=8).digest(), "little")
                     for i in ids], dtype=np.uint64)
