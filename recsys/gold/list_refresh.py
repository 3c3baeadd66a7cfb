"""Incremental top-K lists: which lists a build must recompute, and the state that decides it.

A list (the K items shown for query p: a product for similar items, a user for user
recommendations) is a re-ranking of p's candidates C(p): the union over candidate sources s
(exact inner-product searches: a query vector against item vectors) of p's ``size_s`` best items
in s. The score of (p, i) reads only p's and the candidates' own inputs (vectors, popularity,
attributes, what p owns), min-max scaled over C(p). So p's list can only differ from the previous
build's when

1. p itself is new or changed (any input of p moved: its hash);
2. a member of the previous C(p) was removed or changed (an item's hash moved);
3. a new or changed item q now enters C(p): for some source s, s(p, q) reaches the score of p's
   ``size_s``-th candidate in s (its *threshold*; -inf when s gave p fewer than ``size_s``).

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
from recsys.gold.schemas import TableBuild

log = logging.getLogger(__name__)

STATE_FORMAT = "1"
SIMILARITY_SLACK = 1e-5     # float noise between the search's and this module's dot products
MOVERS_PER_BLOCK = 1024


@dataclass(frozen=True)
class Space:
    """A candidate source: query and item vectors (score = inner product), which of them are known,
    and how many candidates it proposes per query. Item-to-item sources pass the same vectors twice."""

    queries: np.ndarray
    items: np.ndarray
    size: int
    query_known: np.ndarray | None = None
    item_known: np.ndarray | None = None

    @classmethod
    def item_to_item(cls, vectors: np.ndarray, size: int, known: np.ndarray | None = None) -> Space:
        return cls(vectors, vectors, size, known, known)

    def known_queries(self) -> np.ndarray:
        return _mask(self.query_known, len(self.queries))

    def known_items(self) -> np.ndarray:
        return _mask(self.item_known, len(self.items))


def _mask(known: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if known is None else np.asarray(known, dtype=bool)


@dataclass
class ListState:
    """What a build leaves for the next: per item its input hash, per query its candidates and thresholds."""

    settings_hash: str
    query_ids: list[str]
    query_hashes: list[str]
    item_ids: list[str]
    item_hashes: list[str]
    candidates: np.ndarray                     # (queries, c) int32 positions into item_ids, -1 padded
    thresholds: dict[str, np.ndarray]          # source -> (queries,) float32
    table_digest: str = ""

    def save(self, directory: Path) -> None:
        staging = storage.staging_dir(Path(directory))
        np.savez(staging / "lists.npz", candidates=self.candidates,
                 **{f"threshold_{name}": values for name, values in self.thresholds.items()})
        storage.write_parquet_atomic(pl.DataFrame({"id": self.query_ids, "hash": self.query_hashes}),
                                     staging / "queries.parquet")
        storage.write_parquet_atomic(pl.DataFrame({"id": self.item_ids, "hash": self.item_hashes}),
                                     staging / "items.parquet")
        (staging / "state.json").write_text(json.dumps({
            "format": STATE_FORMAT, "settings_hash": self.settings_hash, "table_digest": self.table_digest,
            "sources": sorted(self.thresholds)}, indent=2))
        storage.replace_dir_atomic(staging, Path(directory))

    @classmethod
    def load(cls, directory: Path) -> ListState | None:
        """The saved state, or None when there is none or it is unreadable (then: full rebuild)."""
        with storage.reading_dir(Path(directory)) as directory:
            return cls._read(directory)

    @classmethod
    def _read(cls, directory: Path) -> ListState | None:
        if not (directory / "state.json").exists():
            return None
        try:
            meta = json.loads((directory / "state.json").read_text())
            if meta.get("format") != STATE_FORMAT:
                return None
            queries = pl.read_parquet(directory / "queries.parquet")
            items = pl.read_parquet(directory / "items.parquet")
            with np.load(directory / "lists.npz") as saved:
                arrays = dict(saved)
            return cls(meta["settings_hash"], queries["id"].to_list(), queries["hash"].to_list(),
                       items["id"].to_list(), items["hash"].to_list(), arrays["candidates"],
                       {name: arrays[f"threshold_{name}"] for name in meta["sources"]}, meta["table_digest"])
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


@dataclass(frozen=True)
class PreviousLists:
    """The table a previous build wrote, its list state and the digest of the file read."""

    table: pl.DataFrame
    state: ListState
    digest: str


@dataclass(frozen=True)
class ListsBuild(TableBuild):
    """A list table built (partly) anew, the state the next build needs and the plan followed."""

    state: ListState | None = None
    plan: RefreshPlan | None = None


def settings_hash(settings: Mapping) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def row_hashes(rows: pl.DataFrame, arrays: Mapping[str, np.ndarray]) -> list[str]:
    """One hash per row of everything that scores or explains it: the row itself (attributes used by
    reasons, what a user owns) and its row of each array (vectors with NaN where unknown, popularity)."""
    encoded = rows.select(pl.struct(pl.all()).struct.json_encode()).to_series().to_list()
    parts = [np.ascontiguousarray(arrays[name]).reshape(len(rows), -1).view(np.uint8) for name in sorted(arrays)]
    packed = np.concatenate(parts, axis=1) if parts else np.zeros((len(rows), 0), dtype=np.uint8)
    return [hashlib.blake2b(row_json.encode() + array_bytes.tobytes(), digest_size=12).hexdigest()
            for row_json, array_bytes in zip(encoded, packed)]


def known_rows(vectors: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    """float32 vectors with NaN rows where unknown: what ``row_hashes`` should see of a vector space."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    return np.where(_mask(known, len(vectors))[:, None], vectors, np.float32(np.nan))


def _moves(before_ids: list[str], before_hashes: list[str], ids: list[str], hashes: list[str]):
    """Positions of new, changed and removed rows, and the (before, now) positions of unchanged ones."""
    before = pl.DataFrame({"id": before_ids, "hash_before": before_hashes,
                           "before": np.arange(len(before_ids), dtype=np.int64)})
    now = pl.DataFrame({"id": ids, "hash_now": hashes, "now": np.arange(len(ids), dtype=np.int64)})
    joined = before.join(now, on="id", how="full", coalesce=True)
    both = joined.filter(pl.col("before").is_not_null() & pl.col("now").is_not_null())
    changed = both.filter(pl.col("hash_before") != pl.col("hash_now"))
    same = both.filter(pl.col("hash_before") == pl.col("hash_now"))
    return (joined.filter(pl.col("before").is_null())["now"].to_numpy(),
            changed["now"].to_numpy(), changed["before"].to_numpy(),
            joined.filter(pl.col("now").is_null())["before"].to_numpy(),
            same["before"].to_numpy(), same["now"].to_numpy())


def plan_refresh(previous: ListState | None, settings: str, query_ids: list[str], query_hashes: list[str],
                 item_ids: list[str], item_hashes: list[str], spaces: Mapping[str, Space],
                 table_digest: str | None, exact_search: bool = True) -> RefreshPlan:
    """The queries a build must recompute given the previous state (see the module docstring).

    ``exact_search``: whether the candidate searches are exact; with an approximate index nothing
    is carried over."""
    n = len(query_ids)
    if not exact_search:
        return RefreshPlan.everything(n, "approximate index: lists are not carried over")
    if previous is None:
        return RefreshPlan.everything(n, "no previous list state")
    if previous.settings_hash != settings:
        return RefreshPlan.everything(n, "settings, weights or models changed")
    if table_digest is None or previous.table_digest != table_digest:
        return RefreshPlan.everything(n, "the table on disk is not the one the state describes")
    if set(previous.thresholds) != set(spaces):
        return RefreshPlan.everything(n, "candidate sources changed")
    new_q, changed_q, _, removed_q, same_q_before, same_q_now = _moves(
        previous.query_ids, previous.query_hashes, query_ids, query_hashes)
    new_i, changed_i, changed_i_before, removed_i, _, _ = _moves(
        previous.item_ids, previous.item_hashes, item_ids, item_hashes)
    recompute = np.zeros(n, dtype=bool)
    recompute[new_q] = True
    recompute[changed_q] = True

    # 2. lists whose candidates lost or changed a member
    stale = np.zeros(len(previous.item_ids) + 1, dtype=bool)      # last slot: the -1 padding
    stale[removed_i] = True
    stale[changed_i_before] = True
    lost = stale[previous.candidates].any(axis=1)[same_q_before]
    recompute[same_q_now[lost]] = True

    # 3. lists a new or changed item now enters
    movers = np.concatenate([new_i, changed_i]).astype(np.int64)
    entering = np.zeros(n, dtype=bool)
    if len(movers):
        # A query that is itself an item never gets itself back (similar items).
        item_position = {pid: i for i, pid in enumerate(item_ids)}
        own = np.array([item_position.get(query_ids[q], -1) for q in same_q_now], dtype=np.int64)
        for name, space in spaces.items():
            source_movers = movers[space.known_items()[movers]]
            if not len(source_movers):
                continue
            threshold = np.full(n, np.inf, dtype=np.float32)
            threshold[same_q_now] = previous.thresholds[name][same_q_before]
            threshold[~space.known_queries()] = np.inf
            for lo in range(0, len(source_movers), MOVERS_PER_BLOCK):
                block = source_movers[lo:lo + MOVERS_PER_BLOCK]
                sims = space.queries @ space.items[block].T                          # (queries, block)
                hits = sims >= (threshold - SIMILARITY_SLACK)[:, None]
                selfish = own[:, None] == block[None, :]
                hits[same_q_now] &= ~selfish
                entering |= hits.any(axis=1)
    recompute |= entering
    counts = {"new_queries": len(new_q), "changed_queries": len(changed_q), "removed_queries": len(removed_q),
              "new_items": len(new_i), "changed_items": len(changed_i), "removed_items": len(removed_i),
              "lost_a_candidate": int(lost.sum()), "gained_a_candidate": int(entering.sum()),
              "recomputed": int(recompute.sum()), "carried_over": int(n - recompute.sum())}
    return RefreshPlan(recompute, False, "incremental", counts)


def carried_state(previous: ListState, query_ids: list[str], item_ids: list[str],
                  carried: np.ndarray) -> tuple[np.ndarray, dict]:
    """The previous candidates and thresholds of the ``carried`` queries, remapped to today's item positions.

    A carried list lost no candidate (else it would be recomputed), so every item still exists.
    """
    previous_row = {qid: i for i, qid in enumerate(previous.query_ids)}
    item_position = {pid: i for i, pid in enumerate(item_ids)}
    old_rows = np.array([previous_row[query_ids[q]] for q in carried], dtype=np.int64)
    remap = np.array([item_position.get(pid, -1) for pid in previous.item_ids] + [-1], dtype=np.int64)
    candidates = remap[previous.candidates[old_rows]]
    thresholds = {name: values[old_rows] for name, values in previous.thresholds.items()}
    return candidates, thresholds


def next_state(previous: ListState | None, plan: RefreshPlan, settings: str, query_ids: list[str],
               query_hashes: list[str], item_ids: list[str], item_hashes: list[str], spaces: Mapping[str, Space],
               recomputed_candidates: np.ndarray, recomputed_entry_scores: Mapping[str, np.ndarray]) -> ListState:
    """The state this build leaves: fresh candidates and thresholds for the recomputed queries
    (``recomputed_candidates``, rows in query order; each source's threshold is its entry score from
    the search, ``recomputed_entry_scores``), the previous ones remapped for the carried."""
    recomputed = np.flatnonzero(plan.recompute)
    carried = np.flatnonzero(~plan.recompute)
    if len(carried) and previous is not None:
        old_candidates, old_thresholds = carried_state(previous, query_ids, item_ids, carried)
    else:
        old_candidates, old_thresholds = np.full((0, 1), -1, dtype=np.int64), {}
    width = max(recomputed_candidates.shape[1] if len(recomputed) else 1, old_candidates.shape[1], 1)
    candidates = np.full((len(query_ids), width), -1, dtype=np.int32)
    candidates[recomputed, :recomputed_candidates.shape[1]] = recomputed_candidates
    candidates[carried, :old_candidates.shape[1]] = old_candidates
    thresholds = {}
    for name in spaces:
        values = np.full(len(query_ids), -np.inf, dtype=np.float32)
        values[recomputed] = recomputed_entry_scores[name]
        if len(carried):
            values[carried] = old_thresholds[name]
        thresholds[name] = values
    return ListState(settings, list(query_ids), list(query_hashes), list(item_ids), list(item_hashes),
                     candidates, thresholds)


def merge_lists(previous: pl.DataFrame | None, fresh: pl.DataFrame, key: str, carried_ids: list[str]) -> pl.DataFrame:
    """Today's table: the carried queries' rows from ``previous`` (with their own build_id) and ``fresh``."""
    if previous is None or not carried_ids:
        return fresh
    kept = previous.filter(pl.col(key).is_in(pl.Series(carried_ids, dtype=pl.String).implode()))
    return pl.concat([kept.select(fresh.columns).cast(fresh.schema), fresh])
