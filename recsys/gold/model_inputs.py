"""Upstream artefacts, read and aligned to the rows the gold tables are built over.

- content vectors: features/item_embeddings (``fused_vector`` by default), optionally re-fused
  from its image and text vectors with a tuned image weight (``with_fusion``);
- ALS: the saved model folder (``users.parquet`` / ``items.parquet`` with a ``factors`` column,
  ``recsys.models`` saved form) -> user and item factors; users and items ALS never saw are unknown;
- two-tower: features/item_tower_vectors (``product_id``, ``vector``) for items, and the saved
  model's user tower run over each user's history (most recent first, with the same event
  strengths the model trained on), so users with validation/test-period activity are embedded from
  everything they did, and users the model never saw are embedded too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from recsys.embeddings.fusion import FusionWeights, fuse
from recsys.gold.user_recommendations import UserSpace
from recsys.index import IdMap
from recsys.models.matrix import Interactions
from recsys.models.two_tower import TwoTowerRecommender
from recsys.recommend import History
from recsys.vectors import AlignedVectors, align, align_frame, vector_matrix

log = logging.getLogger(__name__)

FUSED_COLUMN = "fused_vector"
TOWER_VECTOR_COLUMN = "vector"
ALS_FACTORS_COLUMN = "factors"


def with_fusion(embeddings: pl.DataFrame, image_weight: float | None) -> pl.DataFrame:
    """item_embeddings whose ``fused_vector`` mixes image and text as ``image_weight`` : ``1 - image_weight``.

    The mix is renormalised per product (``recsys.embeddings.fusion.fuse``); a product with only
    one of the two vectors keeps that one, and a product with neither keeps its stored fused vector
    (the encoder's empty-text fallback). ``None`` returns the table unchanged.
    """
    if image_weight is None:
        return embeddings
    image = vector_matrix(embeddings["image_vector"])
    text = vector_matrix(embeddings["text_vector"])
    fused = fuse(image, text, FusionWeights(image=image_weight, text=1.0 - image_weight))
    stored = vector_matrix(embeddings[FUSED_COLUMN])
    fused = np.where(np.isfinite(fused).all(axis=1, keepdims=True), fused, stored)
    return embeddings.with_columns(pl.Series(FUSED_COLUMN, fused, dtype=embeddings.schema[FUSED_COLUMN]))


def content_vectors(products: IdMap, embeddings: pl.DataFrame, column: str = FUSED_COLUMN,
                    image_weight: float | None = None) -> AlignedVectors:
    """``column`` vectors aligned to ``products``; the fused column re-fused at ``image_weight`` when given."""
    frame = with_fusion(embeddings, image_weight) if column == FUSED_COLUMN else embeddings
    return align_frame(products, frame, "product_id", column)


def als_space(folder: Path, products: IdMap, history: History) -> UserSpace | None:
    """ALS user/item factors aligned to ``history`` users and ``products``; None if no model is saved."""
    folder = Path(folder)
    if not (folder / "items.parquet").exists():
        return None
    users = pl.read_parquet(folder / "users.parquet")
    items = pl.read_parquet(folder / "items.parquet")
    user_map = IdMap(history.user_ids.tolist())
    return UserSpace(users=align(user_map, users["user_id"].to_list(), vector_matrix(users[ALS_FACTORS_COLUMN])),
                     items=align_frame(products, items, "product_id", ALS_FACTORS_COLUMN))


def tower_items(frame: pl.DataFrame, products: IdMap) -> AlignedVectors:
    return align_frame(products, frame, "product_id", TOWER_VECTOR_COLUMN)


def user_histories(events: pl.DataFrame, users: Sequence[str], max_items: int) -> tuple[list[list[str]], list[list[float]]]:
    """Each user's products most recent first with the models' event strengths (recsys.models.matrix)."""
    matrix = Interactions.from_events(events.filter(pl.col("user_id").is_in(list(users))), user_ids=users)
    histories, strengths = [], []
    for row in range(matrix.n_users):
        items, weights = matrix.history(row, max_items)
        histories.append(matrix.item_ids[items].tolist())
        strengths.append(weights.tolist())
    return histories, strengths


def tower_space(model_folder: Path, item_vectors: pl.DataFrame | None, events: pl.DataFrame, products: IdMap,
                history: History) -> UserSpace | None:
    """Two-tower user vectors (from each user's history) and item vectors; None without a saved model."""
    model_folder = Path(model_folder)
    if item_vectors is None or not (model_folder / "config.json").exists():
        return None
    model = TwoTowerRecommender.from_pretrained(model_folder)
    items = tower_items(item_vectors, products)
    users = history.user_ids.tolist()
    histories, strengths = user_histories(events, users, model.params.max_history)
    known_model_items = set(model.item_ids.tolist())
    usable = np.array([any(p in known_model_items for p in h) for h in histories], dtype=bool)
    vectors = np.zeros((len(users), items.dim), dtype=np.float32)
    if usable.any():
        picked = np.flatnonzero(usable)
        vectors[picked] = model.embed_users([histories[i] for i in picked], [strengths[i] for i in picked])
    log.info("two-tower: embedded %d of %d users from their history", int(usable.sum()), len(users))
    return UserSpace(users=AlignedVectors(vectors, usable), items=items)
