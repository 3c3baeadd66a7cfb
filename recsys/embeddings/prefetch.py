"""Decode batches on worker threads ahead of the consumer (overlap I/O + decode with inference).

Pillow's decoders and resamplers release the GIL, so threads decode in parallel with the
model's forward pass without the pickling cost of worker processes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Batch:
    """One batch: ``arrays[j]`` is the item at position ``indices[j]``; failures are in ``errors``."""

    indices: np.ndarray
    arrays: np.ndarray | None
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.indices) + len(self.errors)


def _load_batch(items: Sequence[T], start: int, load: Callable[[T], np.ndarray]) -> Batch:
    indices, arrays, errors = [], [], {}
    for offset, item in enumerate(items):
        try:
            arrays.append(load(item))
            indices.append(start + offset)
        except Exception as exc:  # a bad file is recorded with its reason, never fatal to the batch
            errors[start + offset] = f"{type(exc).__name__}: {exc}"[:300]
    return Batch(np.asarray(indices, dtype=np.int64), np.stack(arrays) if arrays else None, errors)


def prefetch_batches(items: Sequence[T], batch_size: int, load: Callable[[T], np.ndarray],
                     workers: int = 1, depth: int | None = None) -> Iterator[Batch]:
    """Batches of ``load(item)`` in order, with up to ``depth`` batches decoding ahead."""
    depth = depth or workers + 1
    starts = iter(range(0, len(items), batch_size))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque = deque()
        try:
            for start in starts:
                pending.append(pool.submit(_load_batch, items[start:start + batch_size], start, load))
                if len(pending) >= depth:
                    break
            while pending:
                batch = pending.popleft().result()
                start = next(starts, None)
                if start is not None:
                    pending.append(pool.submit(_load_batch, items[start:start + batch_size], start, load))
                yield batch
        finally:
            for future in pending:
                future.cancel()
