"""The interface every recommender answers, its top-K result, and its saved form.

A fitted model knows its users and items (the ids it was trained on) and which items each user
already has (``seen``). ``recommend`` ranks the model's items for known users, in batches;
``score`` gives pair scores for any (user, item) it can score, NaN otherwise.

Saved form (``save_pretrained``): a folder with ``config.json`` (model name, parameters,
library versions, training summary), ``users.parquet`` and ``items.parquet`` (ids plus any
per-row arrays the model keeps, e.g. factors), ``seen.npz`` (the user x item matrix it was
fitted on) and whatever else the model adds. The folder is written beside the target and
swapped in atomically; ``from_pretrained`` needs no training code or data.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from functools import cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys import __version__ as recsys_version
from recsys.models.matrix import Interactions
from recsys.models.threads import torch_threads
from recsys.storage import reading_dir, replace_dir_atomic, staging_dir

log = logging.getLogger(__name__)

RECOMMEND_BATCH = 256    # users scored against the whole item set at once (a few MB per 1k items)
RANK_THREADS = 1         # torch threads for top-k (see recsys.models.threads)


@dataclass(frozen=True)
class UserRankings:
    """Ranked items per user: row r of ``item_ids`` / ``scores`` belongs to ``user_ids[r]``, best
    first. Users with fewer than k candidates are padded with ``None`` ids and ``-inf`` scores."""

    user_ids: np.ndarray   # (n,) str
    item_ids: np.ndarray   # (n, k) object (str or None)
    scores: np.ndarray     # (n, k) float32

    def to_frame(self) -> pl.DataFrame:
        """Long form: user_id, rank (1-based), product_id, score; padding dropped."""
        n, k = self.item_ids.shape
        frame = pl.DataFrame({
            "user_id": np.repeat(self.user_ids.astype(object), k).tolist() if n else [],
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
            "product_id": self.item_ids.reshape(-1).tolist(),
            "score": self.scores.reshape(-1).astype(np.float32),
        }, schema={"user_id": pl.String, "rank": pl.Int32, "product_id": pl.String, "score": pl.Float32})
        return frame.filter(pl.col("product_id").is_not_null())


TOP_K_BLOCK = 64         # columns per block of the block-maximum prefilter of top_k_columns


def top_k_columns(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a dense score matrix, the column positions of the k largest scores (best first) and
    those scores (``recsys.topk.best_k_candidates`` ranks given candidate positions instead).

    Wide rows are prefiltered: the k blocks of ``TOP_K_BLOCK`` columns with the largest maxima
    hold the row's k largest scores (any column outside them is at most the k-th largest block
    maximum, and each chosen block holds a score at least that large), so the exact top-k runs on
    k * TOP_K_BLOCK candidates. Block maxima are one vectorised pass, cheaper than torch.topk or numpy's
    argpartition over the whole wide row (benchmarks/design_measurements.md). Ties may resolve either way.
    """
    import torch

    matrix = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    n, width = matrix.shape
    k = min(k, width)
    blocks = width // TOP_K_BLOCK
    if blocks < 4 * k:                       # too few blocks for the prefilter to prune much
        values, columns = torch.topk(matrix, k, dim=1)
        return columns.numpy(), values.numpy()
    maxima = matrix.unfold(1, TOP_K_BLOCK, TOP_K_BLOCK).amax(dim=2)            # (n, blocks), a view's reduction
    chosen = torch.topk(maxima, k, dim=1).indices
    candidates = (chosen.unsqueeze(2) * TOP_K_BLOCK + torch.arange(TOP_K_BLOCK)).reshape(n, k * TOP_K_BLOCK)
    if blocks * TOP_K_BLOCK < width:         # the last partial block is always a candidate
        candidates = torch.cat([candidates, torch.arange(blocks * TOP_K_BLOCK, width).expand(n, -1)], dim=1)
    values, picked = torch.topk(matrix.gather(1, candidates), k, dim=1)
    return candidates.gather(1, picked).numpy(), values.numpy()


@cache
def library_versions(*packages: str) -> dict[str, str]:
    versions = {"recsys": recsys_version}
    for package in ("numpy", "polars", "scipy", *packages):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


class Recommender(ABC):
    """Fit on an :class:`Interactions` matrix; recommend and score by id."""

    name: ClassVar[str]
    Params: ClassVar[type]                  # a frozen dataclass of hyper-parameters
    requires: ClassVar[tuple[str, ...]] = ()  # extra packages whose versions are recorded

    def __init__(self, params: Any = None):
        self.params = params if params is not None else self.Params()
        self.user_ids: np.ndarray = np.array([], dtype=object)
        self.item_ids: np.ndarray = np.array([], dtype=object)
        self.seen: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.summary: dict[str, Any] = {}   # what training measured (timings, curves, metrics)
        self.version: str | None = None      # set when saved: the UTC save time, ISO 8601
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}

    # --- fitting -------------------------------------------------------------------------------
    @abstractmethod
    def fit(self, train: Interactions) -> Self:
        """Learn from ``train``; must call :meth:`_set_train` (or :meth:`_set_ids`)."""

    def _set_ids(self, user_ids: np.ndarray, item_ids: np.ndarray, seen: sp.csr_matrix) -> None:
        self.user_ids, self.item_ids = np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object)
        self.seen = seen.tocsr()
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        self._item_index = {p: i for i, p in enumerate(self.item_ids.tolist())}

    def _set_train(self, train: Interactions) -> None:
        """:meth:`_set_ids` from a training matrix, sharing its id indexes (models fitted on the
        same matrix build them once)."""
        self.user_ids, self.item_ids, self.seen = train.user_ids, train.item_ids, train.matrix
        self._user_index, self._item_index = train.user_index(), train.item_index()

    @property
    def is_fitted(self) -> bool:
        return len(self.item_ids) > 0

    def user_rows(self, user_ids: Sequence[str]) -> np.ndarray:
        """Row of each user id, -1 where the model does not know the user."""
        return np.array([self._user_index.get(u, -1) for u in user_ids], dtype=np.int64)

    def item_rows(self, product_ids: Sequence[str]) -> np.ndarray:
        return np.array([self._item_index.get(p, -1) for p in product_ids], dtype=np.int64)

    # --- scoring -------------------------------------------------------------------------------
    @abstractmethod
    def _user_scores(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_items) float32 scores for known user rows, as a new writable array."""

    @abstractmethod
    def _pair_scores(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        """float32 scores of aligned known (user row, item row) pairs."""

    def _top_k(self, rows: np.ndarray, k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Item positions and scores of the k best items per user row (-inf where excluded)."""
        block = self._user_scores(rows)
        if exclude_seen:
            seen = self.seen[rows].tocoo()
            block[seen.row, seen.col] = -np.inf
        return top_k_columns(block, k)

    def rank_rows(self, rows: np.ndarray, k: int, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The k best item *positions* (n, k) for known user rows, best first, and their scores;
        -1 and -inf where a user has fewer than k candidates. Batched; what ``recommend`` and the
        validation probe build on."""
        if not self.is_fitted:
            raise RuntimeError(f"{self.name}: fit or load the model before recommending")
        rows = np.asarray(rows, dtype=np.int64)
        k_eff = min(k, len(self.item_ids))
        positions = np.full((len(rows), k), -1, dtype=np.int64)
        scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
        with torch_threads(RANK_THREADS):
            for lo in range(0, len(rows), RECOMMEND_BATCH):
                batch = rows[lo:lo + RECOMMEND_BATCH]
                cols, best = self._top_k(batch, k_eff, exclude_seen)
                positions[lo:lo + len(batch), :k_eff] = np.where(np.isfinite(best), cols, -1)
                scores[lo:lo + len(batch), :k_eff] = best
        return positions, scores

    def recommend(self, user_ids: Sequence[str], k: int = 20, exclude_seen: bool = True) -> UserRankings:
        """Top ``k`` items for each *known* user in ``user_ids`` (unknown users are left out)."""
        requested = np.asarray(list(user_ids), dtype=object)
        rows = self.user_rows(requested.tolist())
        known = rows >= 0
        positions, scores = self.rank_rows(rows[known], k, exclude_seen)
        items = np.where(positions >= 0, self.item_ids[np.maximum(positions, 0)], None)
        return UserRankings(requested[known], items, scores)

    def score(self, user_ids: Sequence[str], product_ids: Sequence[str]) -> np.ndarray:
        """Scores of aligned (user, product) pairs; NaN where the user or the product is unknown."""
        users, items = self.user_rows(user_ids), self.item_rows(product_ids)
        out = np.full(len(users), np.nan, dtype=np.float32)
        ok = (users >= 0) & (items >= 0)
        if ok.any():
            out[ok] = self._pair_scores(users[ok], items[ok])
        return out

    # --- persistence ---------------------------------------------------------------------------
    def _user_columns(self) -> dict[str, np.ndarray]:
        """Per-user arrays saved in users.parquet beside user_id (e.g. factors)."""
        return {}

    def _item_columns(self) -> dict[str, np.ndarray]:
        return {}

    def _save_extra(self, folder: Path) -> None:
        """Anything else the model needs (weights files)."""

    def _load_state(self, folder: Path, users: pl.DataFrame, items: pl.DataFrame) -> None:
        """Restore model state from the saved tables and extra files."""

    def save_pretrained(self, path: Path, with_files: Callable[[Path], None] | None = None) -> Path:
        """Write the model folder atomically (see module docstring); returns ``path``.

        ``with_files(folder)`` adds files of the caller's (a training record) to the folder before it
        is swapped in, so the model and they appear together.
        """
        if not self.is_fitted:
            raise RuntimeError(f"{self.name}: nothing to save, the model is not fitted")
        path = Path(path)
        build = staging_dir(path)
        self.version = datetime.now(timezone.utc).isoformat()
        config = {"model": self.name, "class": f"{type(self).__module__}.{type(self).__qualname__}",
                  "params": asdict(self.params), "versions": dict(library_versions(*self.requires)),
                  "saved_at": self.version, "n_users": len(self.user_ids),
                  "n_items": len(self.item_ids), "summary": self.summary}
        (build / "config.json").write_text(json.dumps(config, indent=2, default=_json_default))
        tables = {"users": _table({"user_id": self.user_ids}, self._user_columns()),
                  "items": _table({"product_id": self.item_ids}, self._item_columns())}
        for name, table in tables.items():   # lz4: float vectors barely compress, so zstd's extra time buys little
            table.write_parquet(build / f"{name}.parquet", compression="lz4")
        sp.save_npz(build / "seen.npz", self.seen.astype(np.float32), compressed=False)   # zlib: slow, small gain
        self._save_extra(build)
        if with_files is not None:
            with_files(build)
        for item in (build, *build.iterdir()):      # mkdtemp makes the folder private; models are shared
            item.chmod(0o755 if item.is_dir() else 0o644)
        replace_dir_atomic(build, path)
        return path

    @classmethod
    def from_pretrained(cls, path: Path) -> Self:
        with reading_dir(Path(path)) as path:
            config = json.loads((path / "config.json").read_text())
            if config["model"] != cls.name:
                raise ValueError(f"{path} holds a {config['model']!r} model, not {cls.name!r}")
            known = {f.name for f in fields(cls.Params)}
            model = cls(cls.Params(**{k: v for k, v in config["params"].items() if k in known}))
            users = pl.read_parquet(path / "users.parquet")
            items = pl.read_parquet(path / "items.parquet")
            model._set_ids(users["user_id"].to_numpy(), items["product_id"].to_numpy(),
                           sp.load_npz(path / "seen.npz"))
            model.summary = config.get("summary", {})
            model.version = config.get("saved_at")
            model._load_state(path, users, items)
        return model


def _table(ids: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> pl.DataFrame:
    data = {name: pl.Series(name, values.tolist(), dtype=pl.String) for name, values in ids.items()}
    for name, values in columns.items():
        values = np.asarray(values)
        if values.ndim == 2:
            data[name] = pl.Series(name, values.astype(np.float32), dtype=pl.Array(pl.Float32, values.shape[1]))
        else:
            data[name] = pl.Series(name, values)
    return pl.DataFrame(data)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
