"""The list state beside an incremental gold table (lake folder ``state/<table>/``)."""

import polars as pl

from assets import metadata
from recsys.gold.list_refresh import ListState, PreviousLists, RefreshPlan, file_digest
from resources import LakeResource


def previous_lists(lake: LakeResource, table: str) -> PreviousLists | None:
    """The previous build's table, its state and the table file's digest; None when any is missing."""
    path = lake.path(f"gold/{table}.parquet")
    with lake.locked(f"lists_{table}"):     # the table and its state as one build left them
        state = ListState.load(lake.path(f"state/{table}"))
        if state is None or not path.exists():
            return None
        return PreviousLists(lake.read_table(f"gold/{table}"), state, file_digest(path))


def publish_lists(lake: LakeResource, table: str, frame: pl.DataFrame, state: ListState) -> None:
    """Write the table and the state it was built with together (the table's digest ties the two),
    so an overlapping build never pairs one build's table with another's state."""
    with lake.locked(f"lists_{table}"):
        lake.write_table(frame, f"gold/{table}")
        state.table_digest = file_digest(lake.path(f"gold/{table}.parquet"))
        state.save(lake.path(f"state/{table}"))


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

