"""The list state beside an incremental gold table (``keys.LIST_STATES``: lake folder ``state/<table>/``)."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from assets import keys, metadata
from assets.catalog_shards import SHARD_COUNT
from recsys import storage
from recsys.embeddings.shards import shard_names
from recsys.gold.list_refresh import ListsBuild, ListState, PreviousLists, RefreshPlan, file_digest
from recsys.gold.user_shards import merge_shard_files, merge_states
from resources import LakeResource
from resources.lake import LakeLocation


def _lock(table: LakeLocation) -> str:
    return f"lists_{keys.lake_path(table).replace('/', '_')}"      # the table and its state as one build left them


def _state(table: LakeLocation) -> str:
    """The state folder of a list table: ``keys.LIST_STATES``, or a user shard's beside its table."""
    return keys.LIST_STATES[table] if isinstance(table, dg.AssetKey) else f"state/{keys.lake_path(table)}"


def previous_lists(lake: LakeResource, table: LakeLocation) -> PreviousLists | None:
    """The previous build's table file (opened), its state and the file's digest; None when any is missing."""
    with lake.locked(_lock(table)):
        state = ListState.load(lake.path(_state(table)))
        if state is None or not lake.has_table(table):
            return None
        return PreviousLists.open(lake.table_path(table), state)


def publish_lists(lake: LakeResource, table: LakeLocation, built: ListsBuild) -> None:
    """Write (or move the file written during the build into place) the table and the state it was
    built with together (the table's digest ties the two), so an overlapping build never pairs one
    build's table with another's state."""
    with lake.locked(_lock(table)):
        if built.path is not None:
            storage.move_into_place(built.path, lake.table_path(table))
        else:
            lake.write(built.table, table)
        built.state.table_digest = file_digest(lake.table_path(table))
        built.state.save(lake.path(_state(table)))


# --- user shards (assets/user_shards.py) ----------------------------------------------------------
USER_SHARDS = dg.StaticPartitionsDefinition(shard_names(SHARD_COUNT))


def shard_table(shard: str) -> str:
    """The lake path of one shard's lists (its state: ``state/<that path>``)."""
    return f"{keys.lake_path(keys.USER_RECOMMENDATION_SHARDS)}/{shard}"


@contextmanager
def previous_user_lists(lake: LakeResource) -> Iterator[PreviousLists | None]:
    """What gold/user_recommendations refreshes from: the user shards merged in table order when every
    shard ran since the table was last published, else the table's own previous build."""
    own = previous_lists(lake, keys.USER_RECOMMENDATIONS)
    shards = [previous_lists(lake, shard_table(shard)) for shard in USER_SHARDS.get_partition_keys()]
    published = _state_time(lake, keys.LIST_STATES[keys.USER_RECOMMENDATIONS])
    newer = all(s is not None for s in shards) and all(
        _state_time(lake, f"state/{shard_table(shard)}") > published for shard in USER_SHARDS.get_partition_keys())
    state = merge_states([s.state for s in shards]) if newer else None
    if state is None:
        yield own
        return
    # The merged file is read through the handle PreviousLists opens; the staged name goes at the end.
    with storage.staged_file(lake.path(keys.USER_RECOMMENDATION_SHARDS) / "merged.parquet") as merged:
        merge_shard_files([lake.table_path(shard_table(s)) for s in USER_SHARDS.get_partition_keys()], merged)
        state.table_digest = file_digest(merged)
        yield PreviousLists.open(merged, state)


def _state_time(lake: LakeResource, state_dir: str) -> int:
    path = lake.path(state_dir) / "state.json"
    return path.stat().st_mtime_ns if path.exists() else -1


def refresh_metadata(plan: RefreshPlan, what: str) -> dict:
    """What the UI and gold/builds show about a refresh: recomputed vs carried, and why."""
    counts = plan.counts
    outcome = (f"recomputed all {counts['recomputed']} {what} ({plan.reason})" if plan.full else
               f"recomputed {counts['recomputed']} {what} ({counts['searched']} searched again), carried over "
               f"{counts['carried_over']}")
    return {"outcome": outcome, "refresh": metadata.counts(counts, "count", "value"),
            "lists_recomputed": counts["recomputed"], "lists_carried_over": counts["carried_over"],
            # of the recomputed: searched again, or re-ranked from their kept proposals
            "lists_searched": counts["searched"], "lists_reranked": counts["reranked"]}

