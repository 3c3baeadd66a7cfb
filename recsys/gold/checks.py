"""What the gold tables promise, as checks that return the offending rows (empty = promise kept)."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


def missing_keys(table: pl.DataFrame, column: str, expected: Iterable[str]) -> list[str]:
    """Expected keys (products, users) that have no row in ``table``."""
    present = set(table[column].unique().to_list())
    return sorted(k for k in set(expected) if k not in present)


def self_recommendations(similar_items: pl.DataFrame) -> pl.DataFrame:
    return similar_items.filter(pl.col("product_id") == pl.col("similar_product_id"))


def owned_recommendations(user_recommendations: pl.DataFrame, interactions: pl.DataFrame) -> pl.DataFrame:
    """Rows recommending a product the user already interacted with (in ``interactions``)."""
    owned = interactions.select("user_id", "product_id").unique()
    return user_recommendations.join(owned, on=["user_id", "product_id"], how="inner")


def broken_rankings(table: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Lists whose ranks are not exactly 1..n, or whose scores increase with rank."""
    per_list = table.select(*keys, "rank", "score").sort([*keys, "rank"]).group_by(keys, maintain_order=True).agg(
        ranks_ok=(pl.col("rank") == pl.int_range(1, pl.len() + 1)).all(),
        scores_ok=(pl.col("score").diff().fill_null(0) <= 1e-6).all())
    return per_list.filter(~pl.col("ranks_ok") | ~pl.col("scores_ok"))
