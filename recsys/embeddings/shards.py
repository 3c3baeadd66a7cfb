"""Catalog shards: a fixed split of the products by a stable hash of their id.

A product's shard depends on its id alone, so it never moves between builds, runs or machines,
and a shard's earlier output stays valid for the products it still holds. Shards let the image
caching and the embedding work spread over processes or machines (one Dagster partition each);
the unpartitioned ``images/manifest`` and ``features/item_embeddings`` then reuse whatever the
shards already cached and encoded.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.stable_hash import stable_hash64

SHARD_SALT = "catalog-shard:"


def shard_names(count: int) -> list[str]:
    """``00``, ``01``, ...: zero-padded so that they sort like numbers."""
    if count < 1:
        raise ValueError(f"a catalog needs at least one shard, got {count}")
    width = len(str(count - 1))
    return [f"{i:0{width}d}" for i in range(count)]


def shard_of(product_ids: pl.Series, count: int) -> np.ndarray:
    """The shard number (0 .. count-1) of each product id."""
    return (stable_hash64(product_ids.to_list(), SHARD_SALT) % np.uint64(count)).astype(np.int64)


def products_in_shard(products: pl.DataFrame, shard: str, count: int) -> pl.DataFrame:
    """The rows of ``products`` whose ``product_id`` falls in ``shard`` (one of ``shard_names(count)``)."""
    names = shard_names(count)
    if shard not in names:
        raise ValueError(f"unknown shard {shard!r}: the catalog has shards {names[0]}..{names[-1]}")
    return products.filter(pl.Series(shard_of(products["product_id"], count) == names.index(shard)))
