"""Interaction tables (docs/lake.md: silver/interactions, features/interaction_split).

An interaction is one event of one user on one product at one time. ``value`` is the rating for
``rating`` events (on ``RATING_SCALE``); for the others it is how many times the event happened
(units of a purchase): 1.0 per row unless the source says otherwise, summed over the repeated
rows of a date-only log (``recsys.interactions.events``).
"""

from __future__ import annotations

import polars as pl

INTERACTION_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "product_id": pl.String(),
    "event": pl.String(),
    "value": pl.Float64(),
    "ts": pl.Datetime("us", "UTC"),
    "origin": pl.String(),          # 'real' | 'simulated'
}

SPLIT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "product_id": pl.String(),
    "event": pl.String(),
    "value": pl.Float64(),
    "ts": pl.Datetime("us", "UTC"),
    "split": pl.String(),           # 'train' | 'validation' | 'test'
}

SPLITS: tuple[str, ...] = ("train", "validation", "test")
ORIGINS: tuple[str, ...] = ("real", "simulated")

# The events the pipeline knows. Real sources may send others; they are kept (and weighted with
# a default confidence by the models) rather than dropped.
KNOWN_EVENTS: tuple[str, ...] = ("view", "click", "add_to_cart", "wishlist", "purchase", "rating")

RATING_SCALE: tuple[float, float] = (1.0, 5.0)   # stars, inclusive


def empty_interactions() -> pl.DataFrame:
    return pl.DataFrame(schema=INTERACTION_SCHEMA)
