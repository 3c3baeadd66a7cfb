"""What counts as relevant in each evaluation task, built only from data the scored models never saw.

user_recommendations: the products a user interacted with in the held-out split (validation for
tuning, test for the report), binary relevance. Slices, each produced only where it is defined:
- ``all``: every user with held-out items (validation and test);
- ``cold_start_users`` (test only): users with at most ``COLD_USER_MAX_TRAIN_ITEMS`` train items.
  The split sends the simulated new users' held-out pairs to test only, and gives validation
  pairs only to users whose history is long enough for the validation fraction to round to one
  pair (10+ pairs with the defaults, so 7+ train items): on validation this slice would always be
  empty, which reads as "measured, nobody there" rather than "not defined";
- ``cold_start_items`` (validation and test): relevance restricted to held-out items with no train
  interaction (only content-aware models can ever rank them).

similar_items:
- ``co_interaction``: for a product i, the other products that users who interacted with i in the
  held-out split also interacted with in that split. No model reads held-out interactions, and the
  content models read no interactions at all, so this is not leakage.
- ``attributes``: products of the same article type, gender and colour (Myntra styles, whose
  attributes come from the source, not from inference). Text-based models read these attributes in
  their input text, so for them this slice measures attribute consistency rather than
  generalisation; the image model reads pixels only (its tower was trained on train-image texts).
  Query products are split in two fixed halves by a hash of their id (``attribute_half``): tuning
  samples its queries from the validation half, the report from the test half, so no test query
  is ever tuned on.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from recsys.interactions.split import cold_start_items, cold_start_users

TRUTH_SCHEMA = {"task": pl.String, "slice": pl.String, "query_id": pl.String, "product_id": pl.String,
                "relevance": pl.Float64}


def _truth(frame: pl.DataFrame, task: str, slice_name: str) -> pl.DataFrame:
    return (frame.select("query_id", "product_id").unique()
            .with_columns(task=pl.lit(task), slice=pl.lit(slice_name), relevance=pl.lit(1.0))
            .select(list(TRUTH_SCHEMA)).cast(TRUTH_SCHEMA).sort("query_id", "product_id"))


USER_SLICES: dict[str, tuple[str, ...]] = {
    "validation": ("all", "cold_start_items"),
    "test": ("all", "cold_start_users", "cold_start_items"),
}


def user_ground_truth(split_df: pl.DataFrame, heldout: str = "test") -> pl.DataFrame:
    """Relevant ``heldout`` items per user, for the slices ``USER_SLICES[heldout]``.

    Reads only the train rows and the ``heldout`` rows of ``split_df`` (validation ground truth
    never depends on test rows).
    """
    if heldout not in USER_SLICES:
        raise ValueError(f"held-out split must be one of {sorted(USER_SLICES)}, got {heldout!r}")
    seen = split_df.filter(pl.col("split").is_in(["train", heldout]))
    held = seen.filter(pl.col("split") == heldout).select(query_id="user_id", product_id="product_id")
    members = {
        "all": lambda: pl.lit(True),
        "cold_start_users": lambda: pl.col("query_id").is_in(list(cold_start_users(seen))),
        "cold_start_items": lambda: pl.col("product_id").is_in(list(cold_start_items(seen))),
    }
    return pl.concat([_truth(held.filter(members[name]()), "user_recommendations", name)
                      for name in USER_SLICES[heldout]])


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


def attribute_half(product_ids: list[str]) -> list[str]:
    """'validation' or 'test' per product id: the parity of its CRC-32, stable across runs and machines."""
    return ["validation" if zlib.crc32(p.encode()) % 2 == 0 else "test" for p in product_ids]


def attribute_ground_truth(products: pl.DataFrame, heldout: str = "test", max_queries: int = 1_000,
                           seed: int = 0) -> pl.DataFrame:
    """Same article type, gender and colour, among Myntra styles products with an image.

    Queries are a seeded sample of the ``heldout`` half of those products; relevant items may be
    any of them.
    """
    pool = products.filter(pl.col("source") == "myntra_styles", pl.col("has_image"),
                           pl.col("article_type").is_not_null(), pl.col("gender").is_not_null(),
                           pl.col("colour").is_not_null()).select("product_id", "article_type", "gender", "colour")
    candidates = pool.filter(pl.Series(attribute_half(pool["product_id"].to_list()), dtype=pl.String) == heldout)
    if candidates.is_empty():
        return pl.DataFrame(schema=TRUTH_SCHEMA)
    keep = np.random.default_rng(seed).choice(candidates.height, size=min(max_queries, candidates.height),
                                              replace=False)
    queries = candidates[np.sort(keep)]
    pairs = (queries.rename({"product_id": "query_id"})
             .join(pool, on=["article_type", "gender", "colour"])
             .filter(pl.col("query_id") != pl.col("product_id")))
    return _truth(pairs, "similar_items", "attributes")
