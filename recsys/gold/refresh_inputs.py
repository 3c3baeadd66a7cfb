"""What a top-K list reads of its items and queries, hashed for ``recsys.gold.list_refresh``.

An item is scored by its vectors, its popularity and who bought it (the "bought together"
reasons), and explained by its catalog row; a user by their vectors and what they own (the anchors
of their reasons). Each of those lands in the item's or the user's hash, so any change of them
marks the row as changed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa

from recsys.gold.list_refresh import SourceVectors, known_rows, row_hashes
from recsys.recommend import History
from recsys.stable_hash import stable_hash64


def history_item_arrays(history: History | None, n_items: int) -> dict[str, np.ndarray]:
    """Per item: popularity and an order-free fingerprint of the users who bought it."""
    if history is None:
        return {}
    purchases = history.purchases.tocsr()
    user_keys = stable_hash64(history.purchase_user_ids)
    buyers = user_keys[purchases.indices]
    per_item = np.zeros(n_items, dtype=np.uint64)
    nonempty = np.diff(purchases.indptr) > 0
    if buyers.size:
        sums = np.add.reduceat(buyers, purchases.indptr[:-1][nonempty])   # wraps mod 2**64: order-free
        per_item[nonempty] = sums
    return {"popularity": history.popularity.astype(np.float32), "bought_by": per_item}


def item_hashes(products: pl.DataFrame, spaces: Mapping[str, SourceVectors], history: History | None) -> list[str]:
    """One hash per product row (``products`` minus build_id, aligned to the sources' item vectors)."""
    arrays = {f"vector_{name}": known_rows(space.items, space.item_known) for name, space in spaces.items()}
    arrays.update(history_item_arrays(history, products.height))
    return row_hashes(products.drop("build_id", strict=False), arrays)


def user_hashes(history: History, product_ids: pl.Series, item_hash: list[str],
                spaces: Mapping[str, SourceVectors]) -> list[str]:
    """One hash per user of history: the ids and hashes of what they own, and their query vectors."""
    owned = history.owned
    tagged = product_ids.cast(pl.String) + "@" + pl.Series(item_hash, dtype=pl.String)
    # Each user's owned tags sorted, as one list column built from the CSR offsets (a user's segment
    # keeps its length when the pairs are sorted by user, then tag); polars orders strings by their
    # UTF-8 bytes, which is Python's code point order, so the rows (and hashes) are what sorting each
    # user's list in Python gives, without a million Python lists.
    per_user = np.diff(owned.indptr)
    tags = (pl.DataFrame({"user": np.repeat(np.arange(history.n_users, dtype=np.int64), per_user),
                          "tag": tagged.gather(owned.indices)})
            .sort("user", "tag")["tag"].to_arrow().cast(pa.large_string()))
    lists = pa.LargeListArray.from_arrays(pa.array(owned.indptr, type=pa.int64()), tags)
    rows = pl.DataFrame({"user_id": pl.Series(history.user_ids.tolist(), dtype=pl.String),
                         "owned": pl.Series(lists).cast(pl.List(pl.String))})
    arrays = {f"vector_{name}": known_rows(space.queries, space.query_known) for name, space in spaces.items()}
    return row_hashes(rows, arrays)
