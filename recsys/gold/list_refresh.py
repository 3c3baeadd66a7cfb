"""Incremental top-K lists: which lists a build must recompute, and the state that decides it.

A list (the K items shown for query p) is a re-ranking of p's candidates C(p): the union over
candidate sources s (vector spaces searched exactly) of the ``size`` nearest items of p in s. The
score of (p, i) reads only p's and the candidates' own inputs (vectors, popularity, attributes),
min-max scaled over C(p). So p's list can only differ from the previous build's when

1. p itself is new or changed (any input of p moved: ``item_hashes``);
2. a member of the previous C(p) was removed or changed;
3. a new or changed item q now enters C(p): for some source s, sim_s(p, q) reaches the score of
   p's ``size``-th candidate in s (its *threshold*; -inf when s gave p fewer than ``size``).

Every other list is carried over unchanged, and it is then exactly what a full rebuild computes.
Exactness needs exact candidate search (a flat index): approximate search (HNSW) answers depend
on the graph, so with it the caller rebuilds every list. Any change of the settings (weights, K,
sources, code) or a state that does not belong to the table on disk also means a full rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recsys import storage

log = logging.getLogger(__name__)

STATE_FORMAT = "1"
SIMILARITY_SLACK = 1e-5     # float noise between the search's and this module's dot products
MOVERS_PER_BLOCK = 1024
QUERIES_PER_BLOCK = 256     # (256 x candidates x dim) gathered vectors at a time


@dataclass(frozen=True)
class Space:
    """A candidate source's vectors, aligned to the catalog (unit rows; ``known`` = has a vector)."""

    vectors: np.ndarray
    known: np.ndarray | None = None

    def known_mask(self) -> np.ndarray:
        return np.ones(len(self.vectors), dtype=bool) if self.known is None else np.asarray(self.known, dtype=bool)


@dataclass
class ListState:
    """What a build leaves for the next: per item its input hash, per query its candidates and thresholds."""

    settings_hash: str
    product_ids: list[str]
    item_hashes: list[str]
    candidates: np.ndarray                     # (n, c) int32 positions into product_ids, -1 padded
    thresholds: dict[str, np.ndarray]          # source -> (n,) float32
    table_digest: str = ""

    def save(self, directory: Path) -> None:
        staging = storage.staging_dir(Path(directory))
        np.savez(staging / "lists.npz", candidates=self.candidates,
                 **{f"threshold_{name}": values for name, values in self.thresholds.items()})
        storage.write_parquet_atomic(pl.DataFrame({"product_id": self.product_ids, "item_hash": self.item_hashes}),
                                     staging / "items.parquet")
        (staging / "state.json").write_text(json.dumps({
            "format": STATE_FORMAT, "settings_hash": self.settings_hash, "table_digest": self.table_digest,
            "sources": sorted(self.thresholds)}, indent=2))
        storage.replace_dir_atomic(staging, Path(directory))

    @classmethod
    def load(cls, directory: Path) -> ListState | None:
        """The saved state, or None when there is none or it is unreadable (then: full rebuild)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "state.json").read_text())
            if meta.get("format") != STATE_FORMAT:
                return None
            items = pl.read_parquet(directory / "items.parquet")
            arrays = np.load(directory / "lists.npz")
            return cls(meta["settings_hash"], items["product_id"].to_list(), items["item_hash"].to_list(),
                       arrays["candidates"], {name: arrays[f"threshold_{name}"] for name in meta["sources"]},
                       meta["table_digest"])
        except (OSError, ValueError, KeyError) as error:
            log.warning("list state in %s unusable (%s): every list is rebuilt", directory, error)
            return None


@dataclass(frozen=True)
class RefreshPlan:
    """Which queries (positions in the current catalog) to recompute, and why."""

    recompute: np.ndarray          # bool (n,)
    full: bool
    reason: str
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def everything(cls, n: int, reason: str) -> RefreshPlan:
        return cls(np.ones(n, dtype=bool), True, reason, {"recomputed": n, "carried_over": 0})


def settings_hash(settings: Mapping) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def item_hashes(rows: pl.DataFrame, spaces: Mapping[str, Space], per_item: Mapping[str, np.ndarray]) -> list[str]:
    """One hash per catalog row of everything that scores or explains it: its row in ``rows``
    (attributes used by reasons), its vector in each space (or none) and each ``per_item`` value."""
    encoded = rows.select(pl.struct(pl.all()).struct.json_encode()).to_series().to_list()
    parts = []
    for name in sorted(spaces):
        space = spaces[name]
        vectors = np.ascontiguousarray(space.vectors, dtype="<f4")
        parts.append(np.where(space.known_mask()[:, None], vectors, np.float32(np.nan)).view(np.uint8))
    for name in sorted(per_item):
        parts.append(np.ascontiguousarray(per_item[name]).reshape(len(rows), -1).view(np.uint8))
    packed = np.concatenate(parts, axis=1) if parts else np.zeros((len(rows), 0), dtype=np.uint8)
    return [hashlib.blake2b(row_json.encode() + vector_bytes.tobytes(), digest_size=12).hexdigest()
            for row_json, vector_bytes in zip(encoded, packed)]


def source_thresholds(candidates: np.ndarray, spaces: Mapping[str, Space], size: int,
                      queries: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per source, the ``size``-th best similarity among each query's candidates (-inf if fewer).

    The candidates hold every source's top ``size``, so this is the score an item must reach to
    enter the query's top ``size`` in that source. ``queries``: the query rows' catalog positions.
    """
    n, width = candidates.shape
    queries = np.arange(n) if queries is None else queries
    out = {name: np.full(n, -np.inf, dtype=np.float32) for name in spaces}
    if width < size:
        return out
    for lo in range(0, n, QUERIES_PER_BLOCK):
        rows = candidates[lo:lo + QUERIES_PER_BLOCK]
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        for name, space in spaces.items():
            known = space.known_mask()
            block_queries = queries[lo:lo + QUERIES_PER_BLOCK]
            sims = np.einsum("qd,qcd->qc", space.vectors[block_queries], space.vectors[safe])
            sims = np.where(valid & known[safe], sims, -np.inf).astype(np.float32)
            kth = -np.partition(-sims, size - 1, axis=1)[:, size - 1]
            out[name][lo:lo + QUERIES_PER_BLOCK] = np.where(known[block_queries], kth, -np.inf)
    return out


def plan_refresh(previous: ListState | None, settings: str, product_ids: list[str], hashes: list[str],
                 spaces: Mapping[str, Space], table_digest: str | None) -> RefreshPlan:
    """The queries a build must recompute given the previous state (see the module docstring)."""
    n = len(product_ids)
    if previous is None:
        return RefreshPlan.everything(n, "no previous list state")
    if previous.settings_hash != settings:
        return RefreshPlan.everything(n, "settings, weights or models changed")
    if table_digest is None or previous.table_digest != table_digest:
        return RefreshPlan.everything(n, "the table on disk is not the one the state describes")
    if set(previous.thresholds) != set(spaces):
        return RefreshPlan.everything(n, "candidate sources changed")
    before = pl.DataFrame({"product_id": previous.product_ids, "hash_before": previous.item_hashes,
                           "before": np.arange(len(previous.product_ids))})
    now = pl.DataFrame({"product_id": product_ids, "hash_now": hashes, "now": np.arange(n)})
    joined = before.join(now, on="product_id", how="full", coalesce=True)
    new = joined.filter(pl.col("before").is_null())["now"].to_numpy()
    removed = joined.filter(pl.col("now").is_null())["before"].to_numpy()
    both = joined.filter(pl.col("before").is_not_null() & pl.col("now").is_not_null())
    changed = both.filter(pl.col("hash_before") != pl.col("hash_now"))
    recompute = np.zeros(n, dtype=bool)
    recompute[new] = True
    recompute[changed["now"].to_numpy()] = True

    # 2. lists whose candidates lost or changed a member
    stale = np.zeros(len(previous.product_ids) + 1, dtype=bool)      # last slot: the -1 padding
    stale[removed] = True
    stale[changed["before"].to_numpy()] = True
    touched_before = np.flatnonzero(stale[previous.candidates].any(axis=1))
    previous_to_now = np.full(len(previous.product_ids), -1, dtype=np.int64)
    previous_to_now[both["before"].to_numpy()] = both["now"].to_numpy()
    touched = previous_to_now[touched_before]
    recompute[touched[touched >= 0]] = True

    # 3. lists a new or changed item now enters
    movers = np.concatenate([new, changed["now"].to_numpy()]).astype(np.int64)
    kept_before = both.filter(pl.col("hash_before") == pl.col("hash_now"))
    carried_now, carried_before = kept_before["now"].to_numpy(), kept_before["before"].to_numpy()
    entering = np.zeros(n, dtype=bool)
    for name, space in spaces.items():
        known = space.known_mask()
        source_movers = movers[known[movers]]
        if not len(source_movers):
            continue
        threshold = np.full(n, np.inf, dtype=np.float32)
        threshold[carried_now] = previous.thresholds[name][carried_before]
        threshold[~known] = np.inf
        for lo in range(0, len(source_movers), MOVERS_PER_BLOCK):
            block = source_movers[lo:lo + MOVERS_PER_BLOCK]
            sims = space.vectors @ space.vectors[block].T                       # (n, block)
            sims[block, np.arange(len(block))] = -np.inf                        # an item never enters its own list
            entering |= (sims >= (threshold - SIMILARITY_SLACK)[:, None]).any(axis=1)
    recompute |= entering
    counts = {"new": len(new), "changed": changed.height, "removed": len(removed),
              "lost_a_candidate": int((touched >= 0).sum()), "gained_a_candidate": int(entering.sum()),
              "recomputed": int(recompute.sum()), "carried_over": int(n - recompute.sum())}
    return RefreshPlan(recompute, False, "incremental", counts)


def carried_state(previous: ListState, product_ids: list[str], carried: np.ndarray) -> tuple[np.ndarray, dict]:
    """The previous candidates and thresholds of the ``carried`` queries, remapped to today's positions.

    A carried list lost no candidate (else it would be recomputed), so every id still exists.
    """
    position = {pid: i for i, pid in enumerate(product_ids)}
    previous_position = {pid: i for i, pid in enumerate(previous.product_ids)}
    old_rows = np.array([previous_position[product_ids[q]] for q in carried], dtype=np.int64)
    remap = np.array([position.get(pid, -1) for pid in previous.product_ids] + [-1], dtype=np.int64)
    candidates = remap[previous.candidates[old_rows]]
    thresholds = {name: values[old_rows] for name, values in previous.thresholds.items()}
    return candidates, thresholds
