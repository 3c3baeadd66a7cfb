"""Popularity and co-purchases as the list tables read them, pinned with the trained models.

Every list scores popularity and explains ALS picks by who bought both items, so if these moved
with every new event, one night's clicks would change the inputs of nearly every list (each list
has popular items among its candidates) and a nightly build would recompute them all. They are
taken from the interaction history together with the models instead: the snapshot is kept while
the trained models it was taken with are (their versions, ``models``), and retaken when any of them
is retrained, the night every list is recomputed anyway. Between retrains, like the pinned models,
they lag the newest events by at most a retrain period (a week by default); what each user owns is
always today's (their own items are never recommended, and their profile moves with their clicks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys import storage
from recsys.index import IdMap
from recsys.recommend.history import PURCHASE_EVENTS, History

RECORD_FILE = "taken_with.json"


@dataclass(frozen=True)
class Behaviour:
    """Distinct users per product and (product, buyer) pairs, by product_id, and the model versions
    they were taken with."""

    popularity: pl.DataFrame        # product_id, users
    purchases: pl.DataFrame         # product_id, user_id
    models: dict

    @classmethod
    def of(cls, interactions: pl.DataFrame, models: Mapping) -> Behaviour:
        """Taken from interaction rows (user_id, product_id, event), as ``build_history`` counts them."""
        rows = interactions.filter(pl.col("user_id").is_not_null() & pl.col("product_id").is_not_null())
        popularity = (rows.select("user_id", "product_id").unique().group_by("product_id")
                      .agg(users=pl.len().cast(pl.Float32)).sort("product_id"))
        purchases = (rows.filter(pl.col("event").is_in(list(PURCHASE_EVENTS))).select("product_id", "user_id")
                     .unique().sort("product_id", "user_id"))
        return cls(popularity, purchases, dict(models))

    def save(self, folder: Path) -> None:
        staging = storage.staging_dir(Path(folder))
        self.popularity.write_parquet(staging / "popularity.parquet")
        self.purchases.write_parquet(staging / "purchases.parquet")
        (staging / RECORD_FILE).write_text(json.dumps({"models": self.models}, indent=2, sort_keys=True, default=str))
        storage.replace_dir_atomic(staging, Path(folder))

    @classmethod
    def load(cls, folder: Path) -> Behaviour | None:
        with storage.reading_dir(Path(folder)) as folder:
            if not (folder / RECORD_FILE).exists():
                return None
            return cls(pl.read_parquet(folder / "popularity.parquet"), pl.read_parquet(folder / "purchases.parquet"),
                       json.loads((folder / RECORD_FILE).read_text())["models"])

    def applied_to(self, history: History, items: IdMap) -> History:
        """``history`` (over ``items``) with this popularity and these co-purchases; products they do
        not know (new since they were taken) have no users and no buyers."""
        popularity = np.zeros(len(items), dtype=np.float32)
        at = items.positions_of(self.popularity["product_id"])
        known = at >= 0
        popularity[at[known]] = self.popularity["users"].to_numpy()[known]
        purchases = self.purchases.with_columns(item=pl.Series(items.positions_of(self.purchases["product_id"]),
                                                               dtype=pl.Int64)).filter(pl.col("item") >= 0)
        buyers = purchases["user_id"].unique().sort()
        column = purchases.join(pl.DataFrame({"user_id": buyers, "column": np.arange(len(buyers), dtype=np.int64)}),
                                on="user_id", how="left")["column"].to_numpy()
        matrix = sp.csr_matrix((np.ones(purchases.height, dtype=np.float32), (purchases["item"].to_numpy(), column)),
                               shape=(len(items), len(buyers)))
        return replace(history, popularity=popularity, purchases=matrix, buyer_ids=np.array(buyers.to_list(), dtype=object))


def pinned_behaviour(folder: Path, interactions: pl.DataFrame, models: Mapping) -> tuple[Behaviour, bool]:
    """The snapshot in ``folder`` if it was taken with ``models``, else a new one taken from
    ``interactions`` and saved there; and whether it was pinned (reused)."""
    saved = Behaviour.load(folder)
    if saved is not None and saved.models == json.loads(json.dumps(dict(models), sort_keys=True, default=str)):
        return saved, True
    taken = Behaviour.of(interactions, models)
    taken.save(folder)
    return taken, False
