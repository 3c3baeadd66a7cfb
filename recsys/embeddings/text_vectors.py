"""features/text_vectors: one text vector per distinct product text, built incrementally.

The text side needs no image tower, so it is its own stage, built beside the tower's training
(one core each) instead of after it; features/item_embeddings then only encodes images. Rows are
keyed by ``text_key`` (the product text's content hash, ``product_text``) and ``text_encoder``
(``name@version``): a rebuild reuses every vector whose text and encoder are unchanged, so a
nightly encodes only the texts that are new, and another encoder re-encodes everything.
Only the texts of current products are kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.embeddings.product_text import product_texts
from recsys.embeddings.reused_vectors import known_vectors, vectors_frame

log = logging.getLogger(__name__)


def text_vector_schema(dimension: int) -> dict[str, pl.DataType]:
    return {"text_key": pl.String(), "text_encoder": pl.String(), "text_vector": pl.Array(pl.Float32, dimension)}


@dataclass(frozen=True)
class TextModel:
    """A backend's text side alone: ``encode`` turns texts into (n, dimension) L2-normalized float32 rows."""

    encoder_id: str                 # name@version, what a stored vector is keyed by
    dimension: int
    encode: Callable[[list[str]], np.ndarray]


@dataclass
class TextVectorsBuild:
    table: pl.DataFrame
    encoded: int
    reused: int
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


def build_text_vectors(products: pl.DataFrame, model: TextModel,
                       previous: pl.DataFrame | None = None) -> TextVectorsBuild:
    """The text vectors of ``products``' distinct non-empty texts, reusing ``previous`` rows of the same encoder."""
    dimension = model.dimension
    texts = (product_texts(products).filter(pl.col("text_key").is_not_null())
             .unique("text_key", keep="first", maintain_order=True).select("text_key", "text"))
    known = known_vectors([previous], "text_key", "text_vector", "text_encoder", model.encoder_id, dimension).join(
        texts.select("text_key"), on="text_key", how="semi")
    todo = texts.join(known, on="text_key", how="anti")
    started = time.perf_counter()
    fresh = known.clear()
    if todo.height:
        log.info("encoding %d texts (%d reused)", todo.height, known.height)
        fresh = vectors_frame(todo["text_key"].to_list(), np.asarray(model.encode(todo["text"].to_list()), np.float32),
                              "text_key", "text_vector", dimension)
    table = (pl.concat([known, fresh]).with_columns(text_encoder=pl.lit(model.encoder_id, dtype=pl.String))
             .select(list(text_vector_schema(dimension))).sort("text_key"))
    return TextVectorsBuild(table=table, encoded=todo.height, reused=known.height,
                            seconds=time.perf_counter() - started)
