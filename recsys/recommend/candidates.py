"""Candidate generation: each source proposes its best items per query; the union is re-ranked.

Sources are cheap, recall-oriented searches (the FAISS index over content vectors, ALS factors,
two-tower vectors, popularity). Every source already drops the query's excluded items (itself,
what a user owns), so the union never contains them and the re-ranker cannot bring them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.topk import Exclusions, SearchFn, blocked_topk


@dataclass(frozen=True)
class CandidateSource:
    name: str
    search: SearchFn               # returns global item positions
    queries: np.ndarray            # (n_queries, d) rows fed to ``search`` (width 0 for priors)
    size: int                      # candidates proposed per query
    query_known: np.ndarray | None = None  # queries the source can serve; None = all


def unique_per_row(positions: np.ndarray) -> np.ndarray:
    """Each row's distinct non-negative positions, ascending, padded with -1 on the right."""
    big = np.iinfo(np.int64).max
    ordered = np.sort(np.where(positions < 0, big, positions), axis=1)
    duplicate = np.zeros_like(ordered, dtype=bool)
    duplicate[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    ordered = np.sort(np.where(duplicate, big, ordered), axis=1)
    width = int(((ordered != big).sum(axis=1)).max(initial=0))
    ordered = ordered[:, :max(width, 1)]
    return np.where(ordered == big, -1, ordered)


@dataclass(frozen=True)
class RankedProposals:
    """One source's proposals per query in rank order: its ``size`` candidates, then a buffer of the
    next best (``recsys.gold.list_refresh`` re-ranks from it when a candidate disappears)."""

    positions: np.ndarray   # (n_queries, width) item positions, -1 padded
    scores: np.ndarray      # (n_queries, width) float32, -inf where the position is -1
    frontier: np.ndarray    # (n_queries,) float32: no item left out scores above it (-inf: none was left out)
    # (n_queries, width) bool: the score was computed by the list refresh, not by the search (which
    # may differ from it by float noise); None: every score is the search's.
    rescored: np.ndarray | None = None

    def rescored_mask(self) -> np.ndarray:
        return np.zeros(self.positions.shape, dtype=bool) if self.rescored is None else self.rescored

    def take(self, rows: np.ndarray) -> RankedProposals:
        return RankedProposals(self.positions[rows], self.scores[rows], self.frontier[rows],
                               None if self.rescored is None else self.rescored[rows])

    @classmethod
    def empty(cls, n_queries: int, width: int) -> RankedProposals:
        """Nothing proposed yet for ``n_queries`` rows, to be filled with ``put``. Positions are int32
        (what the saved list state keeps): a million users' proposals take half the memory."""
        return cls(np.full((n_queries, width), -1, dtype=np.int32), np.full((n_queries, width), -np.inf, np.float32),
                   np.full(n_queries, -np.inf, dtype=np.float32), np.zeros((n_queries, width), dtype=bool))

    def put(self, rows: np.ndarray, proposals: RankedProposals) -> None:
        """Write ``proposals`` (one row per entry of ``rows``) into these rows (made by ``empty``)."""
        self.positions[rows] = proposals.positions
        self.scores[rows] = proposals.scores
        self.frontier[rows] = proposals.frontier
        self.rescored[rows] = proposals.rescored_mask()


@dataclass(frozen=True)
class Candidates:
    """Every query's candidates, and per source its ranked proposals (the incremental list refresh keeps them)."""

    positions: np.ndarray                 # (n_queries, c) union of the proposals, -1 padded
    ranked: dict[str, RankedProposals]    # source -> its proposals and buffer, in rank order


def generate_candidates(sources: list[CandidateSource], n_queries: int, exclusions: Exclusions | None = None,
                        block_rows: int = 16_384) -> np.ndarray:
    """(n_queries, c) union of every source's proposals, -1 padded; excluded items never appear."""
    return candidates_with_proposals(sources, n_queries, exclusions, block_rows).positions


def candidates_with_proposals(sources: list[CandidateSource], n_queries: int, exclusions: Exclusions | None = None,
                              block_rows: int = 16_384, buffer: int = 0) -> Candidates:
    """``generate_candidates`` plus each source's proposals, read off its search, with the next
    ``buffer`` items in rank order and the frontier (``RankedProposals``)."""
    exclusions = exclusions if exclusions is not None else Exclusions.nothing(n_queries)
    columns, ranked = [], {}
    for source in sources:
        width = source.size + buffer if source.size > 0 else 0
        proposed = np.full((n_queries, width), -1, dtype=np.int64)
        scores = np.full((n_queries, width), -np.inf, dtype=np.float32)
        rows = np.flatnonzero(source.query_known) if source.query_known is not None else np.arange(n_queries)
        if len(rows) and width:
            found = blocked_topk(source.queries[rows], width, source.search, exclusions.take(rows),
                                 block_rows=block_rows, label=f"candidates[{source.name}]")
            proposed[rows], scores[rows] = found.positions, found.scores
        frontier = scores[:, -1] if width else np.full(n_queries, -np.inf, np.float32)
        ranked[source.name] = RankedProposals(proposed, scores, frontier.copy())
        columns.append(proposed[:, :source.size])
    if not columns:
        return Candidates(np.full((n_queries, 1), -1, dtype=np.int64), ranked)
    return Candidates(unique_per_row(np.concatenate(columns, axis=1)), ranked)
