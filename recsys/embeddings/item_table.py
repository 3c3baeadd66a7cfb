"""features/item_embeddings: one row of vectors per silver product, built incrementally.

Each vector is keyed by what it was computed from and by which model:
- text vector: ``text_key`` (hash of the product text, see ``product_text``) + ``text_encoder``;
- image vector: ``image_sha256`` (the cached image's content hash) + ``image_encoder``.
A rebuild reuses every stored vector whose key and model are unchanged and encodes only the
rest, so a rerun encodes nothing, a changed description re-encodes that product's text only,
and a new encoder version (a different model) re-encodes everything that model produced.
Identical texts or images shared by several products are encoded once.
The fused vector is recomputed every time (cheap), so new fusion weights need no encoding.

Products with no image get ``image_vector`` null and a text-only fused vector, products with
no text an image-only one; an image that fails to decode is recorded in ``image_error`` and
the product is kept with its text. No product is dropped. An encoder without an image model
(``Encoder.no_images_reason``) encodes no image: every product gets its text-only fused vector.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from recsys.embeddings.encoder import Encoder
from recsys.embeddings.fusion import FusionWeights, fuse
from recsys.embeddings.product_text import product_texts
from recsys.embeddings.reused_vectors import known_vectors, vectors_frame
from recsys.vectors import vector_matrix

log = logging.getLogger(__name__)

VECTOR_COLUMNS = ("image_vector", "text_vector", "fused_vector")


def item_embedding_schema(dimension: int) -> dict[str, pl.DataType]:
    vector = pl.Array(pl.Float32, dimension)
    return {
        "product_id": pl.String(), "image_vector": vector, "text_vector": vector, "fused_vector": vector,
        "has_image": pl.Boolean(), "has_text": pl.Boolean(), "encoder": pl.String(), "encoder_version": pl.String(),
        "dimension": pl.Int32(), "content_key": pl.String(), "text_key": pl.String(), "image_sha256": pl.String(),
        "text_encoder": pl.String(), "image_encoder": pl.String(), "image_error": pl.String(),
    }


@dataclass
class EmbeddingBuild:
    table: pl.DataFrame
    texts_encoded: int = 0
    texts_reused: int = 0
    images_encoded: int = 0
    images_reused: int = 0
    image_failures: dict[str, int] = field(default_factory=dict)
    text_seconds: float = 0.0
    image_seconds: float = 0.0
    decode_wait_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def text_items_per_second(self) -> float:
        return self.texts_encoded / self.text_seconds if self.text_seconds > 0 else 0.0

    @property
    def image_items_per_second(self) -> float:
        return self.images_encoded / self.image_seconds if self.image_seconds > 0 else 0.0

    @property
    def encoded_nothing(self) -> bool:
        return self.texts_encoded == 0 and self.images_encoded == 0


def _known_failures(frames: list[pl.DataFrame | None], encoder_version: str) -> pl.DataFrame:
    schema = {"image_sha256": pl.String(), "image_error": pl.String()}
    failed = [f.filter(pl.col("image_error").is_not_null() & (pl.col("encoder_version") == encoder_version))
              .select(list(schema)).cast(schema)
              for f in frames if f is not None and {"image_error", "encoder_version"} <= set(f.columns)]
    if not failed:
        return pl.DataFrame(schema=schema)
    return pl.concat(failed).unique("image_sha256", keep="first", maintain_order=True)


def _content_key(text_key: str | None, image_sha: str | None) -> str:
    return hashlib.sha256(f"{text_key or ''}\x00{image_sha or ''}".encode()).hexdigest()[:32]


def build_item_embeddings(products: pl.DataFrame, primary_images: pl.DataFrame, lake_root: Path, encoder: Encoder,
                          previous: pl.DataFrame | None = None, reusable_text_vectors: Sequence[pl.DataFrame] = (),
                          weights: FusionWeights = FusionWeights(),
                          shards: Sequence[pl.DataFrame] = ()) -> EmbeddingBuild:
    """The item embedding table for ``products``.

    ``primary_images``: ``product_id, image_path`` (lake-relative), ``sha256`` (``recsys.images.primary_images``).
    ``previous``: the last table, whose vectors are reused where key and model match.
    ``reusable_text_vectors``: tables of ``text_key, text_encoder, text_vector`` rows (features/text_vectors,
    the tower training's), reused like ``previous``.
    ``shards``: tables the catalog shards built (``recsys.embeddings.shards``), reused like ``previous``.
    """
    started = time.perf_counter()
    dim = encoder.dimension
    frame = (products.select("product_id")
             .join(product_texts(products), on="product_id", how="left")
             .join(primary_images.select("product_id", "image_path", pl.col("sha256").alias("image_sha256")),
                   on="product_id", how="left"))
    build = EmbeddingBuild(table=pl.DataFrame())

    # Texts: reuse by (text_key, text encoder); encode each missing distinct text once.
    known_text = known_vectors([previous, *shards, *reusable_text_vectors], "text_key", "text_vector", "text_encoder",
                        encoder.text_encoder_id, dim)
    frame = frame.join(known_text, on="text_key", how="left")
    todo = frame.filter(pl.col("text_key").is_not_null() & pl.col("text_vector").is_null()).unique(
        "text_key", keep="first", maintain_order=True)
    build.texts_reused = frame.filter(pl.col("text_vector").is_not_null())["text_key"].n_unique()
    if todo.height:
        log.info("encoding %d texts (%d reused)", todo.height, build.texts_reused)
        t0 = time.perf_counter()
        vectors = encoder.encode_texts(todo["text"].to_list())
        build.text_seconds, build.texts_encoded = time.perf_counter() - t0, todo.height
        fresh = vectors_frame(todo["text_key"].to_list(), vectors, "text_key", "text_vector", dim)
        frame = frame.drop("text_vector").join(pl.concat([known_text, fresh]), on="text_key", how="left")

    # Images: reuse by (image sha256, image encoder); encode each missing distinct image once.
    known_image = known_vectors([previous, *shards], "image_sha256", "image_vector", "image_encoder", encoder.image_encoder_id, dim)
    frame = frame.join(known_image, on="image_sha256", how="left")
    # An image this encoder version already failed to decode is not tried again (same bytes, same code).
    errors = _known_failures([previous, *shards], encoder.version)
    todo = frame.filter(pl.col("image_sha256").is_not_null() & pl.col("image_vector").is_null()
                        & ~pl.col("image_sha256").is_in(errors["image_sha256"].implode())
                        & (encoder.no_images_reason is None)).unique("image_sha256", keep="first", maintain_order=True)
    build.images_reused = frame.filter(pl.col("image_vector").is_not_null())["image_sha256"].n_unique()
    if todo.height:
        log.info("encoding %d images (%d reused)", todo.height, build.images_reused)
        paths = [Path(lake_root) / p for p in todo["image_path"].to_list()]
        encoded = encoder.encode_images(paths)
        build.image_seconds, build.decode_wait_seconds = encoded.seconds, encoded.decode_wait_seconds
        ok = encoded.ok
        build.images_encoded = int(ok.sum())
        build.image_failures = dict(Counter(e.split(":", 1)[0] for e in encoded.errors if e is not None))
        shas = todo["image_sha256"].to_list()
        fresh = vectors_frame([s for s, good in zip(shas, ok) if good], encoded.vectors[ok],
                               "image_sha256", "image_vector", dim)
        errors = pl.concat([errors, pl.DataFrame({"image_sha256": [s for s, good in zip(shas, ok) if not good],
                                                  "image_error": [e for e in encoded.errors if e is not None]},
                                                 schema=errors.schema)])
        frame = frame.drop("image_vector").join(pl.concat([known_image, fresh]), on="image_sha256", how="left")
    frame = frame.join(errors, on="image_sha256", how="left")

    image_matrix = vector_matrix(frame["image_vector"])
    text_matrix = vector_matrix(frame["text_vector"])
    has_image = np.isfinite(image_matrix).all(axis=1)
    has_text = np.isfinite(text_matrix).all(axis=1)
    # A product with neither (no text fields, no usable image) still gets a defined vector: the empty text's.
    fallback = encoder.encode_texts([""])[0] if not (has_image | has_text).all() else None
    fused = fuse(image_matrix, text_matrix, weights, fallback)

    table = frame.select(
        "product_id", "image_vector", "text_vector",
        pl.Series("fused_vector", fused, dtype=pl.Array(pl.Float32, dim)),
        pl.Series("has_image", has_image), pl.Series("has_text", has_text),
        pl.lit(encoder.name).alias("encoder"), pl.lit(encoder.version).alias("encoder_version"),
        pl.lit(dim, dtype=pl.Int32()).alias("dimension"),
        pl.Series("content_key", [_content_key(t, i) for t, i in frame.select("text_key", "image_sha256").iter_rows()]),
        "text_key", "image_sha256",
        pl.when(pl.Series(has_text)).then(pl.lit(encoder.text_encoder_id)).alias("text_encoder"),
        pl.when(pl.Series(has_image)).then(pl.lit(encoder.image_encoder_id)).alias("image_encoder"),
        "image_error",
    ).cast(item_embedding_schema(dim)).sort("product_id")
    build.table = table
    build.seconds = time.perf_counter() - started
    return build


def validate_item_embeddings(table: pl.DataFrame, product_ids: pl.Series, tolerance: float = 1e-3) -> list[str]:
    """What is wrong with an item embedding table for these products (empty list: nothing)."""
    problems = []
    if table.height != len(product_ids) or set(table["product_id"]) != set(product_ids):
        problems.append(f"{table.height} rows for {len(product_ids)} products")
    if table["product_id"].n_unique() != table.height:
        problems.append("duplicate product ids")
    if table["fused_vector"].null_count():
        problems.append(f"{table['fused_vector'].null_count()} null fused vectors")
    for column, flag in (("image_vector", "has_image"), ("text_vector", "has_text"), ("fused_vector", None)):
        present = table.filter(pl.col(column).is_not_null())
        if flag and present.height != int(table[flag].sum()):
            problems.append(f"{column} present for {present.height} rows, {flag} true for {int(table[flag].sum())}")
        if present.height:
            norms = np.linalg.norm(vector_matrix(present[column]), axis=1)
            bad = int((~(np.abs(norms - 1) <= tolerance)).sum())
            if bad:
                problems.append(f"{bad} {column}s not unit length")
    return problems
