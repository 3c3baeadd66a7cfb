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
class Candidates:
    """Every query's candidates, and per source the score an item needs to be among its proposals."""

    positions: np.ndarray                 # (n_queries, c) union of the proposals, -1 padded
    entry_scores: dict[str, np.ndarray]   # source -> (n_queries,) score of its ``size``-th proposal (-inf: fewer)


def generate_candidates(sources: list[CandidateSource], n_queries: int, exclusions: Exclusions | None = None,
                        block_rows: int = 16_384) -> np.ndarray:
    """(n_queries, c) union of every source's proposals, -1 padded; excluded items never appear."""
    return candidates_with_entry_scores(sources, n_queries, exclusions, block_rows).positions


def candidates_with_entry_scores(sources: list[CandidateSource], n_queries: int,
                                 exclusions: Exclusions | None = None, block_rows: int = 16_384) -> Candidates:
    """``generate_candidates`` plus each source's entry score, read off its search (the incremental
    list refresh keeps them: an item scoring below it cannot have entered that source's proposals)."""
    exclusions = exclusions if exclusions is not None else Exclusions.nothing(n_queries)
    columns, entry_scores = [], {}
    for source in sources:
        proposed = np.full((n_queries, source.size), -1, dtype=np.int64)
        entry = np.full(n_queries, -np.inf, dtype=np.float32)
        rows = np.flatnonzero(source.query_known) if source.query_known is not None else np.arange(n_queries)
        if len(rows) and source.size > 0:
            found = blocked_topk(source.queries[rows], source.size, source.search, exclusions.take(rows),
                                 block_rows=block_rows, label=f"candidates[{source.name}]")
            proposed[rows] = found.positions
            entry[rows] = found.scores[:, source.size - 1]
        columns.append(proposed)
        entry_scores[source.name] = entry
    if not columns:
        return Candidates(np.full((n_queries, 1), -1, dtype=np.int64), entry_scores)
    return Candidates(unique_per_row(np.concatenate(columns, axis=1)), entry_scores)
