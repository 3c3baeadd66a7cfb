"""The list state beside an incremental gold table (``keys.LIST_STATES``: lake folder ``state/<table>/``)."""

import dagster as dg

from assets import keys, metadata
from recsys import storage
from recsys.gold.list_refresh import ListsBuild, ListState, PreviousLists, RefreshPlan, file_digest
from resources import LakeResource


def _lock(table: dg.AssetKey) -> str:
    return f"lists_{table.path[-1]}"      # the table and its state as one build left them


def previous_lists(lake: LakeResource, table: dg.AssetKey) -> PreviousLists | None:
    """The previous build's table file (opened), its state and the file's digest; None when any is missing."""
    with lake.locked(_lock(table)):
        state = ListState.load(lake.path(keys.LIST_STATES[table]))
        if state is None or not lake.has_table(table):
            return None
        return PreviousLists.open(lake.table_path(table), state)


def publish_lists(lake: LakeResource, table: dg.AssetKey, built: ListsBuild) -> None:
    """Write (or move the file written during the build into place) the table and the state it was
    built with together (the table's digest ties the two), so an overlapping build never pairs one
    build's table with another's state."""
    with lake.locked(_lock(table)):
        if built.path is not None:
            storage.move_into_place(built.path, lake.table_path(table))
        else:
            lake.write(built.table, table)
        built.state.table_digest = file_digest(lake.table_path(table))
        built.state.save(lake.path(keys.LIST_STATES[table]))


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

