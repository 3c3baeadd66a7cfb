"""What the evaluation reads, aligned once: catalog, content spaces, the split, history and models.

``history_splits`` decides what the models may know about users: ``["train"]`` when tuning on
validation, ``["train", "validation"]`` when scoring on test (validation precedes test in time and
no model trained on it). ALS and the two-tower are the models trained on train only.

Content spaces (unit rows): ``text``, ``image``, ``fused_default`` (the fused vector as
features/item_embeddings stores it) and ``fused`` (re-fused at the tuned image weight: what the
index and the tables use; the stored one when no weight is given).

On large user bases the users are a fixed sample (``max_users``, drawn by a stable hash of the
id): ranking every model for every user would make tuning and evaluation grow with the user
base (18 min of tuning at 100k users), while a few thousand users already measure NDCG to about
a hundredth. Popularity stays the whole history's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from recsys.gold import model_inputs
from recsys.gold.user_recommendations import UserSpace
from recsys.index import IdMap
from recsys.recommend import History, VectorSignal, build_history
from recsys.stable_hash import stable_hash64
from recsys.topk import SearchFn
from recsys.vectors import AlignedVectors

SINGLE_CONTENT_COLUMNS: dict[str, str] = {"text": "text_vector", "image": "image_vector",
                                          "fused_default": model_inputs.FUSED_COLUMN}


@dataclass(frozen=True)
class EvaluationInputs:
    products: pl.DataFrame           # gold/products
    ids: IdMap                       # product positions (gold/products order)
    embeddings: pl.DataFrame         # features/item_embeddings
    split: pl.DataFrame              # features/interaction_split (every split; callers filter)
    history_rows: pl.DataFrame       # the split rows of ``history_splits``
    history: History                 # over every user of the split
    tower: UserSpace | None
    als: UserSpace | None

    @property
    def product_ids(self) -> np.ndarray:
        return self.products["product_id"].to_numpy()


def load_inputs(products: pl.DataFrame, embeddings: pl.DataFrame, split: pl.DataFrame, history_splits: Sequence[str],
                als_folder: Path, tower_folder: Path, tower_items: pl.DataFrame | None,
                max_users: int | None = None, seed: int = 0) -> EvaluationInputs:
    ids = IdMap(products["product_id"].to_list())
    all_users = split["user_id"].unique()
    users = sample_users(all_users, max_users, seed)
    popularity = None
    if len(users) < len(all_users):
        popularity = build_history(split.filter(pl.col("split").is_in(list(history_splits))), ids).popularity
        split = split.filter(pl.col("user_id").is_in(users.implode()))
    history_rows = split.filter(pl.col("split").is_in(list(history_splits)))
    history = build_history(history_rows, ids, users=users.to_list())
    if popularity is not None:
        history = replace(history, popularity=popularity)
    als = model_inputs.als_space(als_folder, ids, history)
    tower = model_inputs.tower_space(tower_folder, tower_items, history_rows, ids, history)
    return EvaluationInputs(products, ids, embeddings, split, history_rows, history, tower, als)


def sample_users(user_ids: pl.Series, max_users: int | None, seed: int = 0) -> pl.Series:
    """At most ``max_users`` of ``user_ids`` (all of them when None or enough): the ones with the smallest
    stable hash, so the sample depends on the ids and the seed alone, and grows by adding users."""
    if max_users is None or len(user_ids) <= max_users:
        return user_ids
    order = np.argsort(stable_hash64(user_ids.to_list(), f"evaluation-users:{seed}:"), kind="stable")
    return user_ids.gather(order[:max_users]).sort()


def fused_space(inputs: EvaluationInputs, image_weight: float | None) -> AlignedVectors:
    """The fused content vectors at ``image_weight`` (None: as stored), unit rows."""
    return model_inputs.content_vectors(inputs.ids, inputs.embeddings, model_inputs.FUSED_COLUMN,
                                        image_weight).normalized()


def content_spaces(inputs: EvaluationInputs, image_weight: float | None) -> dict[str, AlignedVectors]:
    spaces = {name: model_inputs.content_vectors(inputs.ids, inputs.embeddings, column).normalized()
              for name, column in SINGLE_CONTENT_COLUMNS.items()}
    spaces["fused"] = fused_space(inputs, image_weight) if image_weight is not None else spaces["fused_default"]
    return spaces


def exact_search(space: AlignedVectors) -> SearchFn:
    """Exact inner-product search over the known rows of ``space`` (what a flat index answers)."""
    return VectorSignal("content", space.vectors, space.vectors, space.known, space.known).search()


def exact_searches(spaces: Mapping[str, AlignedVectors]) -> dict[str, SearchFn]:
    return {name: exact_search(space) for name, space in spaces.items()}
