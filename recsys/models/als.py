"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with the ``implicit`` library.

Confidence of an observed pair is ``1 + alpha * strength`` (strength from
``recsys.models.matrix.EventWeights``); unobserved pairs have confidence 1 and preference 0.
``implicit`` parallelises over users/items with its own threads (``num_threads``, 0 = all
cores); BLAS inside it must stay single-threaded or the two fight for the cores, so fitting runs
under ``threadpoolctl.threadpool_limits(1, "blas")`` (set ``OPENBLAS_NUM_THREADS=1`` before
numpy is imported, too: implicit warns otherwise).

Only warm users and items (present in training) have factors; others cannot be scored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.cpu_limit import resolve_threads
from recsys.models.base import Recommender
from recsys.models.matrix import Interactions
from recsys.vectors import vector_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ALSParams:
    factors: int = 32
    regularization: float = 0.1
    alpha: float = 5.0
    iterations: int = 15
    seed: int = 0
    num_threads: int = 0          # implicit's threads; 0 = every CPU the process may use (cgroup limit)
    use_cg: bool = True           # conjugate-gradient solver (faster, as accurate for ALS)


def confidence_matrix(train: Interactions, alpha: float) -> sp.csr_matrix:
    """The matrix implicit fits: ``1 + alpha * strength`` on observed pairs."""
    confidence = train.matrix.astype(np.float32, copy=True)
    confidence.data = 1.0 + alpha * confidence.data
    return confidence


class ALSRecommender(Recommender):
    name = "als"
    Params = ALSParams
    requires = ("implicit", "threadpoolctl")

    def __init__(self, params: ALSParams | None = None):
        super().__init__(params)
        self.user_factors = np.zeros((0, self.params.factors), dtype=np.float32)
        self.item_factors = np.zeros((0, self.params.factors), dtype=np.float32)

    def fit(self, train: Interactions, on_iteration: Callable[[int, float, Self], None] | None = None) -> Self:
        """Fit on ``train``; ``on_iteration(iteration, seconds, model)`` runs after each sweep with
        the current factors in place (e.g. to record a validation curve)."""
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        started = time.perf_counter()
        self._set_train(train)

        def callback(iteration: int, seconds: float, _loss) -> None:
            self.user_factors, self.item_factors = als.user_factors, als.item_factors
            log.info("ALS iteration %d/%d (%.2fs)", iteration + 1, p.iterations, seconds)
            if on_iteration is not None:
                on_iteration(iteration + 1, seconds, self)

        with threadpool_limits(1, "blas"):   # implicit checks the BLAS threads when it is built
            als = AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=1.0,
                                          iterations=p.iterations, use_cg=p.use_cg, num_threads=resolve_threads(p.num_threads),
                                          random_state=p.seed, calculate_training_loss=False)
            als.fit(confidence_matrix(train, p.alpha), show_progress=False, callback=callback)
        self.user_factors = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(als.item_factors, dtype=np.float32)
        self.summary = {"users": train.n_users, "items": train.n_items, "pairs": train.nnz,
                        "fit_seconds": round(time.perf_counter() - started, 3)}
        return self

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.user_factors).all() and np.isfinite(self.item_factors).all())

    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors[rows] @ self.item_factors.T

    def _pair_scores(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors[user_rows], self.item_factors[item_rows])

    def _user_columns(self) -> dict[str, np.ndarray]:
        return {"factors": self.user_factors}

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {"factors": self.item_factors}

    def _load_state(self, folder: Path, users: pl.DataFrame, items: pl.DataFrame) -> None:
        self.user_factors = vector_matrix(users["factors"])
        self.item_factors = vector_matrix(items["factors"])
