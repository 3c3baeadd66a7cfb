"""gold/builds: one row per build: when, how much, what was recomputed and what was reused.

A gold table carries the ``build_id`` of the run that wrote it, so "recomputed" and "reused" are
read off the tables themselves: a table whose build_id is this build's was written now; any
other was carried over from the build named next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from recsys.gold.schemas import GOLD_TABLES, conform


def table_build_ids(tables: Mapping[str, pl.DataFrame]) -> dict[str, str | None]:
    """The build_id that wrote each table (the most frequent one if a table mixes several)."""
    out = {}
    for name, df in tables.items():
        counts = df["build_id"].drop_nulls().value_counts(sort=True) if df.height else None
        out[name] = counts["build_id"][0] if counts is not None and counts.height else None
    return out


def build_record(build_id: str, started_at: datetime, finished_at: datetime, tables: Mapping[str, pl.DataFrame],
                 index_kind: str | None, vector_model: str | None) -> pl.DataFrame:
    """The one-row builds entry for ``build_id`` from the gold tables as they are now."""
    products = tables["products"]
    similar = tables["similar_items"]
    users = tables["user_recommendations"]
    styles = tables["style_recommendations"]
    owners = table_build_ids(tables)
    n_products = products.height
    return conform(pl.DataFrame([{
        "build_id": build_id,
        "started_at": started_at,
        "finished_at": finished_at,
        "products": n_products,
        "users": users["user_id"].n_unique(),
        "styles": styles["style"].n_unique(),
        "similar_items_rows": similar.height,
        "user_recommendations_rows": users.height,
        "style_recommendations_rows": styles.height,
        "similar_items_coverage": similar["product_id"].n_unique() / n_products if n_products else 0.0,
        "recommended_catalog_coverage": users["product_id"].n_unique() / n_products if n_products else 0.0,
        "index_kind": index_kind,
        "vector_model": vector_model,
        "recomputed": sorted(name for name, owner in owners.items() if owner == build_id),
        "reused": sorted(f"{name}@{owner}" for name, owner in owners.items() if owner != build_id),
    }], schema_overrides={"recomputed": pl.List(pl.String), "reused": pl.List(pl.String)}), GOLD_TABLES["builds"])


def append_build(previous: pl.DataFrame | None, record: pl.DataFrame) -> pl.DataFrame:
    """The builds table with ``record`` added (replacing an earlier row of the same build_id)."""
    if previous is None or previous.is_empty():
        return record
    kept = conform(previous, GOLD_TABLES["builds"]).filter(~pl.col("build_id").is_in(record["build_id"].implode()))
    return conform(pl.concat([kept, record]), GOLD_TABLES["builds"])
