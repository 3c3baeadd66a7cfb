"""gold/builds: one row per build: when, how much, what was recomputed and what was reused.

A gold row carries the ``build_id`` of the run that computed it, and an incremental build carries
unchanged rows over with their old build_id. So "recomputed" and "reused" are read off the tables
themselves: a table with rows of this build was (at least partly) recomputed now; any other was
carried over whole from the build named next to it. ``stages`` says, per pipeline step, how long
it took and what it did (retrained or pinned a model, lists recomputed and carried over, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from recsys.gold.schemas import GOLD_TABLES, conform


def _summary(table: Path | pl.DataFrame, *distinct: str) -> dict:
    """Rows, distinct values of ``distinct`` columns and the build_ids a table's rows hold, asked of
    DuckDB: a table's Parquet file is streamed, never loaded whole (a million users' lists are 50M rows)."""
    con = duckdb.connect()
    try:
        if isinstance(table, pl.DataFrame):
            con.register("t", table.to_arrow())
        else:
            con.read_parquet(str(table)).create_view("t")
        counts = "".join(f', count(DISTINCT "{column}") AS "{column}"' for column in distinct)
        cursor = con.execute(f"SELECT count(*) AS rows, list(DISTINCT build_id) FILTER (build_id IS NOT NULL) "
                             f"AS owners{counts} FROM t")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone()))
    finally:
        con.close()


# The gold tables a build record summarizes, with the columns whose distinct values it counts.
_DISTINCT_COUNTS: dict[str, tuple[str, ...]] = {
    "products": (), "similar_items": ("product_id",), "user_recommendations": ("user_id", "product_id"),
    "style_recommendations": ("style",)}


def build_record(build_id: str, started_at: datetime, finished_at: datetime,
                 tables: Mapping[str, Path | pl.DataFrame], index_kind: str | None, vector_model: str | None,
                 changes: Mapping[str, int] | None = None, stages: Sequence[Mapping] = ()) -> pl.DataFrame:
    """The one-row builds entry for ``build_id`` from the gold tables as they are now (their Parquet
    files, or frames).

    ``changes``: new/changed/removed product counts; ``stages``: dicts of stage, seconds, outcome.
    """
    summaries = {name: _summary(tables[name], *distinct) for name, distinct in _DISTINCT_COUNTS.items()}
    similar, users, styles = (summaries[name] for name in ("similar_items", "user_recommendations",
                                                            "style_recommendations"))
    owners = {name: set(summary["owners"] or []) for name, summary in summaries.items()}
    n_products = summaries["products"]["rows"]
    return conform(pl.DataFrame([{
        "build_id": build_id,
        "started_at": started_at,
        "finished_at": finished_at,
        "products": n_products,
        "users": users["user_id"],
        "styles": styles["style"],
        "similar_items_rows": similar["rows"],
        "user_recommendations_rows": users["rows"],
        "style_recommendations_rows": styles["rows"],
        "similar_items_coverage": similar["product_id"] / n_products if n_products else 0.0,
        "recommended_catalog_coverage": users["product_id"] / n_products if n_products else 0.0,
        "index_kind": index_kind,
        "vector_model": vector_model,
        "recomputed": sorted(name for name, owners_of in owners.items() if build_id in owners_of),
        "reused": sorted(f"{name}@{owner}" for name, owners_of in owners.items() if build_id not in owners_of
                         for owner in sorted(owners_of)),
        **{f"{kind}_products": (changes or {}).get(kind) for kind in ("new", "changed", "removed")},
        "stages": [{"stage": s["stage"], "seconds": float(s["seconds"]), "outcome": s.get("outcome")} for s in stages],
    }], schema_overrides={"recomputed": pl.List(pl.String), "reused": pl.List(pl.String),
                          "stages": GOLD_TABLES["builds"].schema["stages"]}), GOLD_TABLES["builds"])


def append_build(previous: pl.DataFrame | None, record: pl.DataFrame) -> pl.DataFrame:
    """The builds table with ``record`` added (replacing an earlier row of the same build_id)."""
    if previous is None or previous.is_empty():
        return record
    schema = GOLD_TABLES["builds"].schema
    # Rows written before a column existed get it as null (builds is history, never rewritten).
    previous = previous.with_columns([pl.lit(None, dtype).alias(name) for name, dtype in schema.items()
                                      if name not in previous.columns])
    kept = conform(previous, GOLD_TABLES["builds"]).filter(~pl.col("build_id").is_in(record["build_id"].implode()))
    return conform(pl.concat([kept, record]), GOLD_TABLES["builds"])
