"""Vectors kept from earlier outputs, keyed by content and the model that computed them.

The item embedding table and the text vectors both encode only content they have no vector for:
a vector is reused when its key (a text or image content hash) and its model (``name@version``)
match. These two helpers read such vectors from earlier tables and frame fresh ones the same way.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def known_vectors(frames: list[pl.DataFrame | None], key: str, vector: str, model_column: str, model_id: str,
                  dimension: int) -> pl.DataFrame:
    """``key -> vector`` from earlier outputs computed by the same model (first one wins)."""
    usable = [f.filter((pl.col(model_column) == model_id) & pl.col(vector).is_not_null() & pl.col(key).is_not_null())
              .select(key, pl.col(vector).cast(pl.Array(pl.Float32, dimension)))
              for f in frames if f is not None and {key, vector, model_column} <= set(f.columns)]
    if not usable:
        return pl.DataFrame(schema={key: pl.String(), vector: pl.Array(pl.Float32, dimension)})
    return pl.concat(usable).unique(key, keep="first", maintain_order=True)


def vectors_frame(keys: list[str], vectors: np.ndarray, key: str, vector: str, dimension: int) -> pl.DataFrame:
    """``key, vector`` rows for freshly encoded ``vectors`` (one row per key, float32)."""
    return pl.DataFrame({key: pl.Series(keys, dtype=pl.String()),
                         vector: pl.Series(vector, vectors.reshape(len(keys), dimension), dtype=pl.Array(pl.Float32, dimension))})
