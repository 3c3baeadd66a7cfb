"""New shoppers' lists computed together: requests that arrive while one batch is being scored are
scored in the next one, as one matrix product over the item vectors.

A new shopper's list is their user vector searched against the item vectors: with the model's
clustered search (large catalogs) a few clusters of them, else all of them, where reading the item
vectors costs more than the arithmetic and a batch reads them once for every shopper in it. No
thread of its own: a request adds its job to the queue, then the one request that holds the compute
lock scores every job queued so far (its own among them); the others find their job done when they
get the lock, or score the next batch. With one request at a time this is the plain, one-shopper
path.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Job:
    history: list[str]
    k: int
    result: tuple[list[str], np.ndarray] | None = None
    error: Exception | None = None
    done: bool = False


@dataclass
class ShopperBatches:
    """Scores new shoppers through ``model.recommend_for_histories``, batching concurrent callers."""

    model: object
    search: object | None = None        # the model's shopper_search(); None scores every item
    max_batch: int = 64
    _queue: list[_Job] = field(default_factory=list)
    _queue_lock: threading.Lock = field(default_factory=threading.Lock)
    _compute_lock: threading.Lock = field(default_factory=threading.Lock)

    def recommend(self, history: Sequence[str], k: int) -> tuple[list[str], np.ndarray]:
        """(product ids, scores) of the top ``k`` for ``history``, the history itself excluded."""
        job = _Job(list(history), k)
        with self._queue_lock:
            self._queue.append(job)
        while not job.done:
            with self._compute_lock:
                if not job.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                    self._score(batch)
        if job.error is not None:
            raise job.error
        return job.result

    def _score(self, batch: list[_Job]) -> None:
        try:
            answers = self.model.recommend_for_histories([j.history for j in batch], [j.k for j in batch],
                                                           search=self.search)
        except ValueError:
            # A history the model cannot place fails alone: the others are scored one by one.
            answers = None
        for index, job in enumerate(batch):
            try:
                job.result = answers[index] if answers is not None else \
                    self.model.recommend_for_histories([job.history], [job.k], search=self.search)[0]
            except ValueError as error:
                job.error = error
            job.done = True
