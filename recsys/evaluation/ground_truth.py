"""What counts as relevant in each evaluation task, built only from data the scored models never saw.

user_recommendations: the products a user interacted with in the held-out split (validation for
tuning, test for the report), binary relevance. Slices:
- ``all``: every user with held-out items;
- ``cold_start_users``: users with at most ``COLD_USER_MAX_TRAIN_ITEMS`` train items;
- ``cold_start_items``: relevance restricted to held-out items with no train interaction (only
  content-aware models can ever rank them).

similar_items:
- ``co_interaction``: for a product i, the other products that users who interacted with i in the
  held-out split also interacted with in that split. No model reads held-out interactions, and the
  content models read no interactions at all, so this is not leakage.
- ``attributes``: products of the same article type, gender and colour (Myntra styles, whose
  attributes come from the source, not from inference). Text-based models read these attributes in
  their input text, so for them this slice measures attribute consistency rather than
  generalisation; the image model reads pixels only (its tower was trained on train-image texts).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.interactions.split import cold_start_items, cold_start_users

TRUTH_SCHEMA = {"task": pl.String, "slice": pl.String, "query_id": pl.String, "product_id": pl.String,
                "relevance": pl.Float64}


def _truth(frame: pl.DataFrame, task: str, slice_name: str) -> pl.DataFrame:
    return (frame.select("query_id", "product_id").unique()
            .with_columns(task=pl.lit(task), slice=pl.lit(slice_name), relevance=pl.lit(1.0))
            .select(list(TRUTH_SCHEMA)).cast(TRUTH_SCHEMA).sort("query_id", "product_id"))


def user_ground_truth(split_df: pl.DataFrame, heldout: str = "test") -> pl.DataFrame:
    """Relevant held-out items per user, for the slices all / cold_start_users / cold_start_items."""
    held = split_df.filter(pl.col("split") == heldout).select(query_id="user_id", product_id="product_id")
    train_only = split_df.filter(pl.col("split") != heldout) if heldout == "validation" else split_df
    cold_users = cold_start_users(train_only)
    cold_items = cold_start_items(split_df.filter(pl.col("split").is_in(["train", heldout])))
    return pl.concat([
        _truth(held, "user_recommendations", "all"),
        _truth(held.filter(pl.col("query_id").is_in(list(cold_users))), "user_recommendations", "cold_start_users"),
        _truth(held.filter(pl.col("product_id").is_in(list(cold_items))), "user_recommendations", "cold_start_items"),
    ])


def co_interaction_ground_truth(split_df: pl.DataFrame, heldout: str = "test", max_queries: int = 2_000,
                                seed: int = 0) -> pl.DataFrame:
    """For a seeded sample of held-out products, the other products their held-out users also had."""
    held = split_df.filter(pl.col("split") == heldout).select("user_id", "product_id").unique()
    pairs = (held.join(held, on="user_id", suffix="_other")
             .filter(pl.col("product_id") != pl.col("product_id_other"))
             .select(query_id="product_id", product_id="product_id_other").unique())
    queries = pairs["query_id"].unique().sort()
    if queries.len() > max_queries:
        keep = np.random.default_rng(seed).choice(queries.len(), size=max_queries, replace=False)
        queries = queries.gather(np.sort(keep))
    return _truth(pairs.filter(pl.col("query_id").is_in(queries.implode())), "similar_items", "co_interaction")


def attribute_ground_truth(products: pl.DataFrame, max_queries: int = 1_000, seed: int = 0) -> pl.DataFrame:
    """Same article type, gender and colour, among Myntra styles products with an image."""
    pool = products.filter(pl.col("source") == "myntra_styles", pl.col("has_image"),
                           pl.col("article_type").is_not_null(), pl.col("gender").is_not_null(),
                           pl.col("colour").is_not_null()).select("product_id", "article_type", "gender", "colour")
    if pool.is_empty():
        return pl.DataFrame(schema=TRUTH_SCHEMA)
    keep = np.random.default_rng(seed).choice(pool.height, size=min(max_queries, pool.height), replace=False)
    queries = pool[np.sort(keep)]
    pairs = (queries.rename({"product_id": "query_id"})
             .join(pool, on=["article_type", "gender", "colour"])
             .filter(pl.col("query_id") != pl.col("product_id")))
    return _truth(pairs, "similar_items", "attributes")
