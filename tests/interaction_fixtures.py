"""Synthetic data with a known right answer for the interaction and model tests.

- ``synthetic_catalog``: a silver/products-like frame with Myntra-style attributes.
- ``checker_board``: implicit's classic fixture, users and items split in two halves by parity,
  every user interacted with the items of its own parity.
- ``planted``: clustered users and items; an item's content vector sits near its cluster's
  centroid, users click items of their own cluster (with a popularity skew that crosses
  clusters), later clicks are held out; some items of every cluster are never clicked (cold).
- ``attribute_embeddings``: an item_embeddings table (docs/lake.md) for real products,
  built from seeded vectors per attribute value, so similar products get similar vectors: what
  the tests use while the real encoder's output is not available.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def event_frame(users: list[str], items: list[str], seconds: list[float], event: str = "click",
                values: list[float] | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "user_id": users, "product_id": items, "event": [event] * len(users),
        "value": values if values is not None else [1.0] * len(users),
        "ts": [T0 + timedelta(seconds=float(s)) for s in seconds], "origin": ["simulated"] * len(users),
    }, schema={"user_id": pl.String, "product_id": pl.String, "event": pl.String, "value": pl.Float64,
               "ts": pl.Datetime("us", "UTC"), "origin": pl.String})


def embeddings_frame(product_ids: list[str], vectors: np.ndarray, encoder: str = "test") -> pl.DataFrame:
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    dim = vectors.shape[1]
    column = pl.Series("fused_vector", vectors, dtype=pl.Array(pl.Float32, dim))
    return pl.DataFrame({"product_id": product_ids}).with_columns(
        image_vector=pl.lit(None, dtype=pl.Array(pl.Float32, dim)), text_vector=column, fused_vector=column,
        has_image=pl.lit(False), has_text=pl.lit(True), encoder=pl.lit(encoder), encoder_version=pl.lit("0"),
        content_key=pl.Series([f"k{i}" for i in range(len(product_ids))]))


def checker_board(n: int = 20) -> pl.DataFrame:
    """n users x n items; user u clicked item i iff u and i have the same parity (except i == u,
    left out so each user has something of its own parity to be recommended)."""
    users, items, seconds = [], [], []
    for u in range(n):
        for i in range(n):
            if u % 2 == i % 2 and i != u:
                users.append(f"u{u:02d}")
                items.append(f"i{i:02d}")
                seconds.append(u * 100 + i)
    return event_frame(users, items, seconds)


@dataclass(frozen=True)
class Planted:
    train: pl.DataFrame            # events
    heldout: pl.DataFrame          # later events of the same users
    embeddings: pl.DataFrame       # item_embeddings contract schema
    user_cluster: dict[str, int]
    item_cluster: dict[str, int]
    cold_items: list[str]          # never clicked


def planted(n_users: int = 240, n_items: int = 360, clusters: int = 6, dim: int = 32, clicks: int = 12,
            heldout: int = 3, cold_per_cluster: int = 5, seed: int = 0) -> Planted:
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(clusters, dim))
    item_cluster = np.arange(n_items) % clusters
    content = centroids[item_cluster] + 0.35 * rng.normal(size=(n_items, dim))
    item_ids = [f"p{i:04d}" for i in range(n_items)]
    members = [np.flatnonzero(item_cluster == c) for c in range(clusters)]
    cold = [i for m in members for i in m[len(m) - cold_per_cluster:]]
    clickable = np.setdiff1d(np.arange(n_items), cold)
    popularity = 1.0 / (1 + rng.permutation(n_items)) ** 0.7
    users, items, seconds = [], [], []
    user_cluster = {}
    for u in range(n_users):
        user = f"user{u:04d}"
        c = u % clusters
        user_cluster[user] = c
        own = clickable[item_cluster[clickable] == c]
        weights = popularity[own] / popularity[own].sum()
        picks = rng.choice(own, size=clicks + heldout, replace=False, p=weights)
        for t, item in enumerate(picks):
            users.append(user)
            items.append(item_ids[item])
            seconds.append(u * 1000 + t)
    events = event_frame(users, items, seconds)
    position = events.with_columns(pos=pl.int_range(pl.len()).over("user_id"))
    return Planted(
        train=position.filter(pl.col("pos") < clicks).drop("pos"),
        heldout=position.filter(pl.col("pos") >= clicks).drop("pos"),
        embeddings=embeddings_frame(item_ids, content),
        user_cluster=user_cluster,
        item_cluster={p: int(c) for p, c in zip(item_ids, item_cluster)},
        cold_items=[item_ids[i] for i in cold],
    )


def attribute_embeddings(products: pl.DataFrame, dim: int = 64, seed: int = 0) -> pl.DataFrame:
    """item_embeddings for a silver/products frame: the sum of a seeded random vector per value of
    article_type, colour, gender, usage and category, plus a little per-product noise."""
    rng = np.random.default_rng(seed)
    vectors = 0.2 * rng.normal(size=(products.height, dim))
    for weight, column in ((2.0, "article_type"), (1.0, "colour"), (1.0, "gender"), (1.0, "usage"), (1.0, "category")):
        values = products[column].fill_null("?").to_list()
        table = {v: rng.normal(size=dim) for v in sorted(set(values))}
        vectors += weight * np.stack([table[v] for v in values])
    return embeddings_frame(products["product_id"].to_list(), vectors)


ARTICLE_TYPES = {  # article type -> (category, usage)
    "Tshirts": ("Apparel", "Casual"), "Jeans": ("Apparel", "Casual"), "Shirts": ("Apparel", "Formal"),
    "Trousers": ("Apparel", "Formal"), "Formal Shoes": ("Footwear", "Formal"), "Sports Shoes": ("Footwear", "Sports"),
    "Track Pants": ("Apparel", "Sports"), "Kurtas": ("Apparel", "Ethnic"), "Sarees": ("Apparel", "Ethnic"),
    "Watches": ("Accessories", "Casual"), "Heels": ("Footwear", "Party"), "Dresses": ("Apparel", "Party"),
    "Jackets": ("Apparel", "Casual"), "Backpacks": ("Accessories", "Casual"),
}
COLOURS = ["Black", "White", "Blue", "Red", "Grey", "Navy Blue", "Green", "Pink", "Brown", "Multi"]


def synthetic_catalog(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Products with gender, category, article_type, colour and usage drawn at random."""
    rng = np.random.default_rng(seed)
    types = list(ARTICLE_TYPES)
    article = [types[i] for i in rng.integers(0, len(types), n)]
    gender = rng.choice(["Men", "Women", "Unisex", None], size=n, p=[0.45, 0.45, 0.07, 0.03])
    return pl.DataFrame({
        "product_id": [f"myntra_styles:{10000 + i}" for i in range(n)],
        "source": ["myntra_styles"] * n,
        "source_id": [str(10000 + i) for i in range(n)],
        "gender": gender.tolist(),
        "category": [ARTICLE_TYPES[a][0] for a in article],
        "article_type": article,
        "colour": [COLOURS[i] for i in rng.integers(0, len(COLOURS), n)],
        "usage": [ARTICLE_TYPES[a][1] for a in article],
    })
