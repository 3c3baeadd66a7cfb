"""What users already did, in item positions: owned items, popularity, who bought what.

Built from interaction rows (features/interaction_split or silver/interactions) restricted to the
chosen splits. Interactions on products outside the catalog cannot be served or excluded; they
are counted in ``unknown_product_rows`` rather than dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.index import IdMap
from recsys.recommend.signals import ItemPriorSignal
from recsys.topk import Exclusions

PURCHASE_EVENTS: tuple[str, ...] = ("purchase",)


@dataclass(frozen=True)
class History:
    user_ids: np.ndarray          # (n_users,) object, sorted
    owned: Exclusions             # per user, the distinct item positions they interacted with
    popularity: np.ndarray        # (n_items,) float32: distinct users per item
    purchases: sp.csr_matrix      # (n_items, n_users) 1 where the user bought the item
    rows_used: int
    unknown_product_rows: int
    # The users of purchases' columns where they are not ``user_ids`` (a user shard keeps the whole
    # history's co-purchases for fewer users' lists).
    buyer_ids: np.ndarray | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def purchase_user_ids(self) -> np.ndarray:
        """The user id of each column of ``purchases``."""
        return self.user_ids if self.buyer_ids is None else self.buyer_ids

    def popularity_signal(self) -> ItemPriorSignal:
        """log(1 + distinct users) per item: damped, so best-sellers do not swamp the mix."""
        return ItemPriorSignal("popularity", np.log1p(self.popularity).astype(np.float32))

    def items_of(self, user: int) -> np.ndarray:
        return self.owned.indices[self.owned.indptr[user]:self.owned.indptr[user + 1]]

    def bought_together(self, items_a: np.ndarray, items_b: np.ndarray) -> np.ndarray:
        """bool per pair: at least one user bought both item a and item b."""
        if len(items_a) == 0:
            return np.zeros(0, dtype=bool)
        both = self.purchases[items_a].multiply(self.purchases[items_b])
        return np.asarray(both.sum(axis=1)).ravel() > 0


def build_history(interactions: pl.DataFrame, items: IdMap, splits: Sequence[str] | None = None,
                  users: Sequence[str] | None = None) -> History:
    """History over ``items`` from interaction rows (user_id, product_id, event[, split]).

    ``splits`` keeps only those splits (when the frame has a ``split`` column); ``users`` fixes the
    user list (default: every user in the rows, sorted), so users without usable rows still appear.
    """
    rows = interactions
    if splits is not None and "split" in rows.columns:
        rows = rows.filter(pl.col("split").is_in(list(splits)))
    positions = items.positions_of(rows["product_id"]) if rows.height else np.zeros(0, np.int64)
    rows = rows.select("user_id", "event").with_columns(item=pl.Series(positions, dtype=pl.Int64))
    unknown = int((rows["item"] < 0).sum())
    rows = rows.filter(pl.col("item") >= 0)
    user_ids = np.array(sorted(set(users) if users is not None else set(rows["user_id"].unique().to_list())),
                        dtype=object)
    user_index = pl.DataFrame({"user_id": user_ids.tolist(), "user": np.arange(len(user_ids), dtype=np.int64)},
                              schema={"user_id": pl.String, "user": pl.Int64})
    rows = rows.join(user_index, on="user_id", how="inner")
    pairs = rows.select("user", "item").unique()
    owned = Exclusions.from_pairs(pairs["user"].to_numpy(), pairs["item"].to_numpy(), len(user_ids))
    popularity = np.bincount(pairs["item"].to_numpy(), minlength=len(items)).astype(np.float32)
    bought = rows.filter(pl.col("event").is_in(list(PURCHASE_EVENTS))).select("item", "user").unique()
    purchases = sp.csr_matrix((np.ones(bought.height, dtype=np.float32),
                               (bought["item"].to_numpy(), bought["user"].to_numpy())),
                              shape=(len(items), len(user_ids)))
    return History(user_ids=user_ids, owned=owned, popularity=popularity, purchases=purchases,
                   rows_used=rows.height, unknown_product_rows=unknown)
