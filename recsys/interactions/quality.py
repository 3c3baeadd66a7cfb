"""Checks on silver/interactions: what must hold before models train on it (all counts must be 0)."""

from __future__ import annotations

import polars as pl

from recsys.interactions.schema import INTERACTION_SCHEMA, ORIGINS, RATING_SCALE


def interaction_problems(interactions: pl.DataFrame, product_ids: pl.Series) -> dict[str, int]:
    """Problem name -> number of offending rows."""
    lo, hi = RATING_SCALE
    missing_columns = [c for c in INTERACTION_SCHEMA if c not in interactions.columns]
    if missing_columns:
        return {f"missing column {c}": 1 for c in missing_columns}
    required = ["user_id", "product_id", "event", "ts", "value"]
    return {
        "null_fields": interactions.filter(pl.any_horizontal(pl.col(required).is_null())).height,
        "unknown_products": interactions.filter(~pl.col("product_id").is_in(product_ids.implode())).height,
        "ratings_out_of_scale": interactions.filter((pl.col("event") == "rating")
                                                    & ~pl.col("value").is_between(lo, hi)).height,
        "non_finite_values": interactions.filter(~pl.col("value").is_finite()).height,
        "bad_origin": interactions.filter(~pl.col("origin").is_in(list(ORIGINS))).height,
        "duplicate_events": interactions.height
        - interactions.select(pl.struct("user_id", "product_id", "event", "ts").n_unique()).item(),
    }


def systemic_faults(files: pl.DataFrame, events: int, min_events: int = 1,
                    rejected_file_share: float = 1.0) -> list[str]:
    """What makes a load of real events unusable as a whole (empty: nothing to block on).

    ``files`` is ``EventsResult.file_summary()``. A load with fewer than ``min_events``
    interactions is empty; a file with records of which at least ``rejected_file_share`` were
    quarantined is rejected as a whole (a missing column, an unreadable file, a foreign format),
    which a build must not pass over as if the file were merely noisy. Faults of single rows are
    not systemic: they are quarantined and counted.
    """
    faults = [f"empty load: {events} interactions, at least {min_events} needed"] if events < min_events else []
    rejected = files.filter((pl.col("records") > 0)
                            & (pl.col("quarantined") >= rejected_file_share * pl.col("records")))
    faults += [f"file rejected: {row['file']} ({row['quarantined']} of {row['records']} records quarantined)"
               for row in rejected.iter_rows(named=True)]
    return faults
