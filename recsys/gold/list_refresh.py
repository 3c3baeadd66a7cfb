"""Incremental top-K lists: which lists a build must recompute, and the state that decides it.

A list (the K items shown for query p: a product for similar items, a user for user
recommendations) is a re-ranking of p's candidates C(p): the union over candidate sources s
(exact inner-product searches: a query vector against item vectors) of p's ``size_s`` best items
in s. The score of (p, i) reads only p's and the candidates' own inputs (vectors, popularity,
attributes, what p owns), min-max scaled over C(p).

The state keeps, per source and query, the ranked proposals of the search: the ``size_s``
candidates, then a buffer of the next best items, and the *frontier*, a score no item left out
of them exceeds. For a query p whose own inputs did not change (its hash), today's build

1. drops the removed and changed items (an item's hash moved) from p's proposals;
2. adds the new and changed items (*movers*) that reach the frontier, scored here;
3. keeps the first ``size_s`` of the result as p's candidates in s if the ``size_s``-th still scores
   above the frontier: every item left out scores at most the frontier, so they are exactly the
   ``size_s`` best items today. If not (the buffer ran out), p is searched again.

p's list is then carried over when its candidates and their inputs are unchanged (it is exactly
what a full rebuild computes), re-ranked from its new candidates when they changed (no search),
and searched again when step 3 cannot decide or p itself is new or changed. The proposals' scores
come from the search and the movers' from a matrix product here, which may differ by float noise;
the state remembers which proposals were scored here, on any night. p is also searched again when
its size-th proposal is within ``SIMILARITY_SLACK`` of the frontier, or when one scored here is
that close to a proposal across the cut (an item relisted with the same vector as a proposed one:
equal scores, which noise could order either way, tonight or on a later night when the cut has
moved down to them). Pairs of searched scores rank, ties by position, as a search ranks them.
Exactness needs exact candidate
search (a flat index): approximate search (HNSW) answers depend on the graph, so with it the
caller rebuilds every list.
Any change of the settings (weights, K, sources, buffer, code) or a state that does not belong to
the table on disk also means a full rebuild.
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
import pyarrow.parquet as pq

from recsys import storage
from recsys.gold.schemas import TableBuild
from recsys.recommend.candidates import RankedProposals, unique_per_row
from recsys.topk import DEFAULT_K, best_k_candidates

log = logging.getLogger(__name__)

STATE_FORMAT = "3"     # 3: which proposals' scores the refresh computed (``RankedProposals.rescored``)
SIMILARITY_SLACK = 1e-5     # float noise between the search's and this module's dot products
MOVERS_PER_BLOCK = 1024
QUERIES_PER_BLOCK = 65_536
# Items kept per query and source beyond its proposals. A nightly change takes a few of a list's
# candidates away (1% of the catalog changed: about 1 in 100); a quarter of the proposals more lets
# almost every list re-rank without a new search, for 25% more state.
REFRESH_BUFFER_SHARE = 0.25


def refresh_buffer(size: int) -> int:
    """How many items a source searched with ``size`` proposals keeps beyond them."""
    return max(4, int(size * REFRESH_BUFFER_SHARE))


@dataclass(frozen=True)
class ListSettings:
    """What a list table (similar_items, user_recommendations) is built with; each table's settings
    add their own default weights."""

    k: int = DEFAULT_K
    candidates_per_source: int = 100      # candidates each source proposes per query
    weights: Mapping[str, float] = field(default_factory=dict)   # re-ranking weight by signal
    block_rows: int = 16_384              # queries scored at once


@dataclass(frozen=True)
class SourceVectors:
    """The vectors of one candidate source as the refresh planner sees them: query and item vectors
    (score = inner product), which of them are known, and how many candidates the source proposes per
    query. Item-to-item sources pass the same vectors twice. (The search itself is a
    ``recsys.recommend.CandidateSource``.)"""

    queries: np.ndarray
    items: np.ndarray
    size: int
    query_known: np.ndarray | None = None
    item_known: np.ndarray | None = None

    @classmethod
    def item_to_item(cls, vectors: np.ndarray, size: int, known: np.ndarray | None = None) -> SourceVectors:
        return cls(vectors, vectors, size, known, known)

    def known_queries(self) -> np.ndarray:
        return _mask(self.query_known, len(self.queries))

    def known_items(self) -> np.ndarray:
        return _mask(self.item_known, len(self.items))


def _mask(known: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if known is None else np.asarray(known, dtype=bool)


@dataclass
class ListState:
    """What a build leaves for the next: per item its input hash, per query its hash and, per
    candidate source, its ranked proposals with their buffer and frontier (positions into item_ids)."""

    settings_hash: str
    query_ids: list[str]
    query_hashes: list[str]
    item_ids: list[str]
    item_hashes: list[str]
    ranked: dict[str, RankedProposals]
    table_digest: str = ""

    def save(self, directory: Path) -> None:
        staging = storage.staging_dir(Path(directory))
        arrays = {}
        for name, proposals in self.ranked.items():
            arrays[f"positions__{name}"] = proposals.positions.astype(np.int32, copy=False)
            arrays[f"scores__{name}"] = proposals.scores.astype(np.float32)
            arrays[f"frontier__{name}"] = proposals.frontier.astype(np.float32)
            arrays[f"rescored__{name}"] = np.packbits(proposals.rescored_mask(), axis=1)
        np.savez(staging / "lists.npz", **arrays)
        storage.write_parquet_atomic(pl.DataFrame({"id": self.query_ids, "hash": self.query_hashes}),
                                     staging / "queries.parquet")
        storage.write_parquet_atomic(pl.DataFrame({"id": self.item_ids, "hash": self.item_hashes}),
                                     staging / "items.parquet")
        (staging / "state.json").write_text(json.dumps({
            "format": STATE_FORMAT, "settings_hash": self.settings_hash, "table_digest": self.table_digest,
            "sources": sorted(self.ranked)}, indent=2))
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
                ranked = {name: RankedProposals(saved[f"positions__{name}"], saved[f"scores__{name}"],
                                                saved[f"frontier__{name}"],
                                                np.unpackbits(saved[f"rescored__{name}"], axis=1,
                                                              count=saved[f"positions__{name}"].shape[1]).astype(bool))
                          for name in meta["sources"]}
            return cls(meta["settings_hash"], queries["id"].to_list(), queries["hash"].to_list(),
                       items["id"].to_list(), items["hash"].to_list(), ranked, meta["table_digest"])
        except (OSError, ValueError, KeyError) as error:
            log.warning("list state in %s unusable (%s): every list is rebuilt", directory, error)
            return None


@dataclass(frozen=True)
class RefreshPlan:
    """Which queries (positions in the current catalog) to recompute, which of them to search again,
    and why; ``ranked``: today's proposals of every query not searched again (see the module docstring)."""

    recompute: np.ndarray          # bool (n,): lists built anew, re-ranked from their candidates
    search: np.ndarray             # bool (n,): of those, the ones whose candidates need a new search
    full: bool
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    ranked: dict[str, RankedProposals] | None = None
    sizes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def everything(cls, n: int, reason: str) -> RefreshPlan:
        return cls(np.ones(n, dtype=bool), np.ones(n, dtype=bool), True, reason,
                   {"searched": n, "reranked": 0, "recomputed": n, "carried_over": 0})

    def candidates(self, rows: np.ndarray) -> np.ndarray:
        """The candidates (union of every source's first ``size`` proposals) of queries not searched again."""
        if self.ranked is None or not self.ranked:
            return np.full((len(rows), 1), -1, dtype=np.int64)
        return unique_per_row(np.concatenate([self.ranked[name].positions[rows, :self.sizes[name]]
                                              for name in self.ranked], axis=1))

    def recomputed_candidates(self, searched_candidates: np.ndarray, queries: np.ndarray | None = None) -> np.ndarray:
        """Candidates of the recomputed ``queries`` (default: all of them), in query order: the new
        search's for the searched ones (``searched_candidates``, rows in query order) and the refreshed
        proposals' for the others."""
        recomputed = np.flatnonzero(self.recompute) if queries is None else queries
        searched = self.search[recomputed]
        kept = self.candidates(recomputed[~searched])
        width = max(searched_candidates.shape[1], kept.shape[1], 1)
        out = np.full((len(recomputed), width), -1, dtype=np.int64)
        out[searched, :searched_candidates.shape[1]] = searched_candidates
        out[~searched, :kept.shape[1]] = kept
        return out


@dataclass(frozen=True)
class PreviousLists:
    """The table file a previous build wrote (open: a build that replaces the file meanwhile does not
    change what this one reads), its list state and the digest of the file."""

    file: pq.ParquetFile
    state: ListState
    digest: str

    @classmethod
    def open(cls, path: Path, state: ListState, digest: str | None = None) -> PreviousLists:
        """The lists in ``path`` with ``state``; ``digest``: the file's unless given."""
        return cls(pq.ParquetFile(path), state, file_digest(path) if digest is None else digest)

    def read(self) -> pl.DataFrame:
        """The whole previous table (similar items: one row per product and rank, small)."""
        return pl.from_arrow(self.file.read())


@dataclass(frozen=True)
class ListsBuild(TableBuild):
    """A list table built (partly) anew, the state the next build needs and the plan followed.

    ``path``: where a table too large to hold was written as it was built (``table`` is then None)."""

    state: ListState | None = None
    plan: RefreshPlan | None = None
    path: Path | None = None

    def read(self) -> pl.DataFrame:
        """The table built: in memory, or read back from its file."""
        return self.table if self.path is None else pl.read_parquet(self.path)


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
                 item_ids: list[str], item_hashes: list[str], spaces: Mapping[str, SourceVectors],
                 table_digest: str | None, exact_search: bool = True) -> RefreshPlan:
    """The queries a build must recompute or search again given the previous state (see the module
    docstring). ``exact_search``: whether the candidate searches are exact; with an approximate
    index nothing is carried over."""
    n = len(query_ids)
    if not exact_search:
        return RefreshPlan.everything(n, "approximate index: lists are not carried over")
    if previous is None:
        return RefreshPlan.everything(n, "no previous list state")
    if previous.settings_hash != settings:
        return RefreshPlan.everything(n, "settings, weights or models changed")
    if table_digest is None or previous.table_digest != table_digest:
        return RefreshPlan.everything(n, "the table on disk is not the one the state describes")
    if set(previous.ranked) != set(spaces):
        return RefreshPlan.everything(n, "candidate sources changed")
    new_q, changed_q, _, removed_q, same_q_before, same_q_now = _moves(
        previous.query_ids, previous.query_hashes, query_ids, query_hashes)
    new_i, changed_i, _, removed_i, same_i_before, same_i_now = _moves(
        previous.item_ids, previous.item_hashes, item_ids, item_hashes)
    search = np.zeros(n, dtype=bool)
    search[new_q] = True
    search[changed_q] = True
    recompute = search.copy()
    # Yesterday's item positions to today's; removed and changed items (and the -1 padding) to -1.
    today = np.full(len(previous.item_ids) + 1, -1, dtype=np.int64)
    today[same_i_before] = same_i_now
    movers = np.concatenate([new_i, changed_i]).astype(np.int64)
    # A query that is itself an item never gets itself back (similar items).
    item_position = {pid: i for i, pid in enumerate(item_ids)}
    own = np.array([item_position.get(query_ids[q], -1) for q in same_q_now], dtype=np.int64)
    ranked, lost, gained = {}, np.zeros(len(same_q_now), bool), np.zeros(len(same_q_now), bool)
    for name, space in spaces.items():
        refreshed = _refresh_source(previous.ranked[name].take(same_q_before), today, space, same_q_now, movers, own)
        everyone = RankedProposals.empty(n, refreshed.proposals.positions.shape[1])
        everyone.put(same_q_now, refreshed.proposals)
        ranked[name] = everyone
        recompute[same_q_now[refreshed.lost | refreshed.gained]] = True
        search[same_q_now[refreshed.undecided]] = True
        lost |= refreshed.lost
        gained |= refreshed.gained
    recompute |= search
    counts = {"new_queries": len(new_q), "changed_queries": len(changed_q), "removed_queries": len(removed_q),
              "new_items": len(new_i), "changed_items": len(changed_i), "removed_items": len(removed_i),
              "lost_a_candidate": int(lost.sum()), "gained_a_candidate": int(gained.sum()),
              "searched": int(search.sum()), "reranked": int((recompute & ~search).sum()),
              "recomputed": int(recompute.sum()), "carried_over": int(n - recompute.sum())}
    return RefreshPlan(recompute, search, False, "incremental", counts, ranked,
                       {name: space.size for name, space in spaces.items()})


@dataclass(frozen=True)
class _RefreshedSource:
    proposals: RankedProposals     # today's, for the queries refreshed (rows of undecided ones: provisional)
    lost: np.ndarray               # bool: a candidate was removed or changed
    gained: np.ndarray             # bool: a mover is now among the candidates
    undecided: np.ndarray          # bool: the proposals cannot tell today's candidates: search again


def _refresh_source(before: RankedProposals, today: np.ndarray, space: SourceVectors, queries: np.ndarray,
                    movers: np.ndarray, own: np.ndarray) -> _RefreshedSource:
    """Steps 1-3 of the module docstring for one source, for ``queries`` (today's positions) whose
    proposals were ``before`` (yesterday's item positions)."""
    size, width = space.size, before.positions.shape[1]
    positions = today[before.positions]
    stale = (before.positions >= 0) & (positions < 0)
    scores = np.where(positions >= 0, before.scores, -np.inf).astype(np.float32)
    frontier = before.frontier.astype(np.float32)
    rescored = before.rescored_mask() & (positions >= 0)
    hit_rows, hit_items, hit_scores = _movers_reaching(space, queries, movers, own, frontier)
    touched = stale.any(axis=1)
    touched[hit_rows] = True
    rows = np.flatnonzero(touched)
    lost = stale[:, :size].any(axis=1)
    gained = np.zeros(len(queries), dtype=bool)
    undecided = np.zeros(len(queries), dtype=bool)
    # Hits grouped by row (stable: a row keeps its movers' order), then the touched rows a block at a
    # time: a night that touches most of a million users would otherwise rank them all at once.
    by_row = np.argsort(hit_rows, kind="stable")
    hit_rows, hit_items, hit_scores = hit_rows[by_row], hit_items[by_row], hit_scores[by_row]
    for lo in range(0, len(rows), QUERIES_PER_BLOCK):
        block = rows[lo:lo + QUERIES_PER_BLOCK]
        first, last = np.searchsorted(hit_rows, [block[0], block[-1] + 1])
        _rank_touched(block, hit_rows[first:last], hit_items[first:last], hit_scores[first:last], size, width,
                      positions, scores, rescored, frontier, lost, gained, undecided)
    return _RefreshedSource(RankedProposals(positions, scores, frontier, rescored), lost, gained, undecided)


def _rank_touched(rows: np.ndarray, hit_rows: np.ndarray, hit_items: np.ndarray, hit_scores: np.ndarray, size: int,
                  width: int, positions: np.ndarray, scores: np.ndarray, rescored: np.ndarray, frontier: np.ndarray,
                  lost: np.ndarray, gained: np.ndarray, undecided: np.ndarray) -> None:
    """Steps 2-3 for the touched ``rows`` (sorted) and the movers reaching them (``hit_*``, grouped by
    row): their proposals ranked again with the movers, in place."""
    # The touched rows' remaining proposals and their movers, ranked again; one column more than
    # kept, so that an item pushed out raises the frontier.
    local = np.searchsorted(rows, hit_rows)
    per_row = np.bincount(local, minlength=len(rows))
    order = np.argsort(local, kind="stable")
    column = np.arange(len(order)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    wide = max(int(per_row.max(initial=0)), 1)
    extra_positions = np.full((len(rows), wide), -1, dtype=np.int64)
    extra_scores = np.full((len(rows), wide), -np.inf, dtype=np.float32)
    extra_positions[local[order], column] = hit_items[order]
    extra_scores[local[order], column] = hit_scores[order]
    # Positions ride with a bit that says whether the refresh scored them (the movers did): 2p + bit
    # keeps the order by position, so ties settle as before.
    tagged = np.concatenate([np.where(positions[rows] >= 0, 2 * positions[rows] + rescored[rows], -1),
                             np.where(extra_positions >= 0, 2 * extra_positions + 1, -1)], axis=1)
    top_scores, top_tagged = best_k_candidates(np.concatenate([scores[rows], extra_scores], axis=1), tagged,
                                               width + 1)
    top_positions = np.where(top_tagged >= 0, top_tagged >> 1, -1)
    kept_rescored = (top_tagged[:, :width] >= 0) & (top_tagged[:, :width] & 1 == 1)
    boundary = np.where(top_positions[:, size - 1] >= 0, top_scores[:, size - 1], -np.inf)
    # No item outside the kept proposals scores above the new frontier (those left out before
    # score at most the old one, the movers pushed out at most the first of them): the first
    # ``size`` are today's candidates when the size-th beats it (or when nothing is left out)
    # and float noise cannot move an item across the cut.
    frontier[rows] = np.maximum(frontier[rows], top_scores[:, width])
    decided = np.isneginf(frontier[rows]) | (boundary > frontier[rows] + SIMILARITY_SLACK)
    noisy = _noisy_cut(top_scores[:, :width], kept_rescored, size)
    undecided[rows] = ~decided | noisy
    before_top = np.sort(positions[rows, :size], axis=1)
    after_top = np.sort(top_positions[:, :size], axis=1)
    gained[rows] = (before_top != after_top).any(axis=1) & ~lost[rows]
    positions[rows], scores[rows], rescored[rows] = top_positions[:, :width], top_scores[:, :width], kept_rescored


def _noisy_cut(scores: np.ndarray, rescored: np.ndarray, size: int) -> np.ndarray:
    """Rows whose cut after the ``size``-th proposal float noise could move: a proposal scored by the
    refresh within ``SIMILARITY_SLACK`` of one on the other side of the cut.

    Scores of one search rank as a new search ranks them (ties by position, like the search); one
    computed here may differ from the search's by float noise, so a pair across the cut that close
    (an item relisted with the same vector as one proposed: equal scores) could fall the other way."""
    above = scores[:, size - 1:size]                    # the size-th: the lowest above the cut
    below = scores[:, size:size + 1]                    # the highest below it
    zone = (scores >= above - SIMILARITY_SLACK) & (scores <= below + SIMILARITY_SLACK)
    return (zone & rescored).any(axis=1)


def _movers_reaching(space: SourceVectors, queries: np.ndarray, movers: np.ndarray, own: np.ndarray,
                     frontier: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query row, mover, score) for every mover scoring at least a query's frontier in ``space``."""
    source_movers = movers[space.known_items()[movers]]
    known = space.known_queries()[queries]
    rows, items, scores = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    bar = np.where(known, frontier - SIMILARITY_SLACK, np.inf)
    # Queries and movers both in blocks: a million users against a thousand movers at once would
    # hold gigabytes of scores (and their gathered query vectors) per source.
    for start in range(0, len(queries) if len(source_movers) else 0, QUERIES_PER_BLOCK):
        stop = min(start + QUERIES_PER_BLOCK, len(queries))
        block_queries = space.queries[queries[start:stop]]
        for lo in range(0, len(source_movers), MOVERS_PER_BLOCK):
            block = source_movers[lo:lo + MOVERS_PER_BLOCK]
            sims = block_queries @ space.items[block].T                                  # (queries, block)
            hits = (sims >= bar[start:stop, None]) & (own[start:stop, None] != block[None, :])
            row, column = np.nonzero(hits)
            rows.append(row + start)
            items.append(block[column])
            scores.append(sims[row, column].astype(np.float32))
    return np.concatenate(rows), np.concatenate(items), np.concatenate(scores)


def next_state(previous: ListState | None, plan: RefreshPlan, settings: str, query_ids: list[str],
               query_hashes: list[str], item_ids: list[str], item_hashes: list[str],
               spaces: Mapping[str, SourceVectors],
               searched: Mapping[str, RankedProposals]) -> ListState:
    """The state this build leaves: the new searches' proposals for the queries searched again
    (``searched``, rows in query order) and the refreshed ones (``plan.ranked``) for the others.
    ``plan.ranked`` is filled in place and becomes the state (a million users' proposals are not
    copied): call this after the plan's candidates were read."""
    rows = np.flatnonzero(plan.search)
    ranked = {}
    for name in spaces:
        if plan.ranked is None:
            ranked[name] = searched[name]
            continue
        ranked[name] = plan.ranked[name]
        ranked[name].put(rows, searched[name])
    return ListState(settings, list(query_ids), list(query_hashes), list(item_ids), list(item_hashes), ranked)


def merge_lists(previous: pl.DataFrame | None, fresh: pl.DataFrame, key: str, carried_ids: list[str]) -> pl.DataFrame:
    """Today's table: the carried queries' rows from ``previous`` (with their own build_id) and ``fresh``."""
    if previous is None or not carried_ids:
        return fresh
    kept = previous.filter(pl.col(key).is_in(pl.Series(carried_ids, dtype=pl.String).implode()))
    return pl.concat([kept.select(fresh.columns).cast(fresh.schema), fresh])
