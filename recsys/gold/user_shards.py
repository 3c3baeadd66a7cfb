"""User shards: the user lists split by a stable hash of ``user_id``, built side by side, merged into
one table.

A user's shard depends on their id alone, so it never moves between builds, runs or machines. A
shard's lists are exactly the unsharded build's lists of its users: a list reads only its own
user's history and vectors and the catalog's items (popularity and co-purchases stay the whole
history's), so a shard keeps the whole catalog and only its users' rows. The shard files merged
in table order, with their list states merged, are a previous build of the whole table: the
unsharded build refreshes from them, carrying over every list of an up-to-date shard and
recomputing only what changed since a shard ran.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np

from recsys import storage
from recsys.embeddings.shards import shard_names
from recsys.gold.list_refresh import ListState
from recsys.recommend import History
from recsys.recommend.candidates import RankedProposals
from recsys.stable_hash import stable_hash64
from recsys.vectors import AlignedVectors

SHARD_SALT = "user-shard:"
# The merge sorts at most this much in memory and spills the rest beside the output.
MERGE_MEMORY = "4GB"


def user_shard_of(user_ids: list[str], count: int) -> np.ndarray:
    """The shard number (0 .. count-1) of each user id."""
    return (stable_hash64(user_ids, SHARD_SALT) % np.uint64(count)).astype(np.int64)


def users_in_shard(history: History, shard: str, count: int) -> np.ndarray:
    """Positions (sorted) of the users of ``history`` in ``shard`` (one of ``shard_names(count)``)."""
    names = shard_names(count)
    if shard not in names:
        raise ValueError(f"unknown shard {shard!r}: the users have shards {names[0]}..{names[-1]}")
    return np.flatnonzero(user_shard_of(history.user_ids.tolist(), count) == names.index(shard))


def shard_history(history: History, users: np.ndarray) -> History:
    """``history`` for the users at ``users`` only (positions, sorted): their owned items; the
    catalog's popularity and co-purchases stay the whole history's."""
    return replace(history, user_ids=history.user_ids[users], owned=history.owned.take(users),
                   buyer_ids=history.purchase_user_ids)


def shard_vectors(vectors: AlignedVectors, users: np.ndarray) -> AlignedVectors:
    return AlignedVectors(vectors.vectors[users], vectors.known[users])


def merge_shard_files(paths: list[Path], output: Path) -> None:
    """The shard files' rows in table order (user, then rank) written to ``output`` (sorted by DuckDB,
    spilling to disk beyond ``MERGE_MEMORY``)."""
    output = Path(output)
    spill = output.parent / f".{output.name}.spill"
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{MERGE_MEMORY}'")
        con.execute(f"SET temp_directory = {_quoted(spill)}")
        files = ", ".join(_quoted(p) for p in paths)
        con.execute(f"COPY (SELECT * FROM read_parquet([{files}]) ORDER BY user_id, rank) TO {_quoted(output)} "
                    f"(FORMAT parquet, COMPRESSION {storage.COMPRESSION}, ROW_GROUP_SIZE {storage.ROW_GROUP_SIZE})")
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def merge_states(states: list[ListState]) -> ListState | None:
    """One list state for the union of the shards' users (in user order), or None when the shards
    were built with different settings or catalogs (then they are no previous build of the table)."""
    first = states[0]
    if any(s.settings_hash != first.settings_hash or s.item_ids != first.item_ids
           or s.item_hashes != first.item_hashes or set(s.ranked) != set(first.ranked) for s in states):
        return None
    query_ids = [q for s in states for q in s.query_ids]
    query_hashes = [h for s in states for h in s.query_hashes]
    order = np.argsort(np.array(query_ids, dtype=object), kind="stable")
    ranked = {}
    for name in first.ranked:
        parts = [s.ranked[name] for s in states]
        if len({p.positions.shape[1] for p in parts}) != 1:
            return None
        ranked[name] = RankedProposals(np.concatenate([p.positions for p in parts])[order],
                                       np.concatenate([p.scores for p in parts])[order],
                                       np.concatenate([p.frontier for p in parts])[order],
                                       np.concatenate([p.rescored_mask() for p in parts])[order])
    return ListState(first.settings_hash, [query_ids[i] for i in order], [query_hashes[i] for i in order],
                     list(first.item_ids), list(first.item_hashes), ranked)
