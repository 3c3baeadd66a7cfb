"""What a catalog load changed since the previous one: new, changed and removed products.

A product is *changed* when its ``content_hash`` (the fields that feed its embeddings) differs;
other edits (a price, a timestamp) reach gold/products on every build but move no vector.
"""

from __future__ import annotations

import polars as pl

CHANGE_SCHEMA = {"product_id": pl.String, "change": pl.String}
CHANGES = ("new", "changed", "removed")


def catalog_changes(previous: pl.DataFrame | None, current: pl.DataFrame) -> pl.DataFrame:
    """One row per new, changed or removed product_id (unchanged products are not listed).

    Without a previous load every current product is new.
    """
    now = current.select("product_id", pl.col("content_hash").alias("after"))
    if previous is None:
        return now.select("product_id", pl.lit("new").alias("change")).sort("product_id")
    before = previous.select("product_id", pl.col("content_hash").alias("before"))
    joined = before.join(now, on="product_id", how="full", coalesce=True)
    change = (pl.when(pl.col("before").is_null() & pl.col("after").is_not_null()).then(pl.lit("new"))
              .when(pl.col("after").is_null()).then(pl.lit("removed"))
              .when(pl.col("before") != pl.col("after")).then(pl.lit("changed")))
    return (joined.with_columns(change=change).filter(pl.col("change").is_not_null())
            .select("product_id", "change").sort("product_id").cast(CHANGE_SCHEMA))


def change_counts(changes: pl.DataFrame) -> dict[str, int]:
    counts = dict(changes.group_by("change").len().iter_rows())
    return {name: int(counts.get(name, 0)) for name in CHANGES}
