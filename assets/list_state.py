"""The list state beside an incremental gold table (lake folder ``state/<table>/``)."""

from assets import metadata
from recsys.gold.list_refresh import ListState, PreviousLists, RefreshPlan, file_digest
from resources import LakeResource


def previous_lists(lake: LakeResource, table: str) -> PreviousLists | None:
    """The previous build's table, its state and the table file's digest; None when any is missing."""
    path = lake.path(f"gold/{table}.parquet")
    state = ListState.load(lake.path(f"state/{table}"))
    if state is None or not path.exists():
        return None
    return PreviousLists(lake.read_table(f"gold/{table}"), state, file_digest(path))


def save_lists(lake: LakeResource, table: str, state: ListState) -> None:
    """Record the state for the table just written (its digest ties the two together)."""
    state.table_digest = file_digest(lake.path(f"gold/{table}.parquet"))
    state.save(lake.path(f"state/{table}"))


def refresh_metadata(plan: RefreshPlan, what: str) -> dict:
    """What the UI and gold/builds show about a refresh: recomputed vs carried, and why."""
    counts = plan.counts
    outcome = (f"recomputed all {counts['recomputed']} {what} ({plan.reason})" if plan.full else
               f"recomputed {counts['recomputed']} {what}, carried over {counts['carried_over']}")
    return {"outcome": outcome, "refresh": metadata.counts(counts, "count", "value"),
            "lists_recomputed": counts["recomputed"], "lists_carried_over": counts["carried_over"]}

