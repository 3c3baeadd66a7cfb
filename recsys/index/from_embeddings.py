"""Build the item index from features/item_embeddings (DESIGN contract) and search it by catalog position."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from recsys.index.ids import IdMap
from recsys.index.item_index import IndexSettings, ItemIndex, VectorSpec
from recsys.topk import exact_search
from recsys.vectors import vector_matrix

log = logging.getLogger(__name__)


def embeddings_spec(embeddings: pl.DataFrame, column: str, image_weight: float | None = None) -> VectorSpec:
    """What the ``column`` vectors of an item_embeddings table are: encoder, version, dimension
    (and the image weight they were re-fused with, when they were)."""
    encoders = embeddings.select("encoder", "encoder_version").unique()
    if encoders.height != 1:
        raise ValueError(f"item embeddings mix encoders {encoders.rows()}: rebuild features/item_embeddings")
    dtype = embeddings.schema[column]
    dim = dtype.size if isinstance(dtype, pl.Array) else int(embeddings[column].list.len().max() or 0)
    encoder, version = encoders.row(0)
    return VectorSpec(model=str(encoder), version=str(version), column=column, dim=dim, image_weight=image_weight)


def usable_vectors(embeddings: pl.DataFrame, column: str) -> tuple[list[str], np.ndarray, pl.DataFrame]:
    """(product ids, vectors) of the rows whose vector is present and finite, plus the rows left out."""
    vectors = vector_matrix(embeddings[column])
    ok = np.isfinite(vectors).all(axis=1) if len(vectors) else np.zeros(0, bool)
    left_out = embeddings.filter(pl.Series(~ok)).select("product_id").with_columns(
        reason=pl.lit(f"{column} missing or not finite"))
    if left_out.height:
        log.warning("%d products have no usable %s and are not indexed", left_out.height, column)
    return embeddings["product_id"].filter(pl.Series(ok)).to_list(), vectors[ok], left_out


def build_from_embeddings(embeddings: pl.DataFrame, column: str = "fused_vector",
                          config: IndexSettings = IndexSettings(),
                          image_weight: float | None = None) -> tuple[ItemIndex, pl.DataFrame]:
    """The item index over ``column`` and the rows it could not index (product_id, reason).

    ``image_weight`` is recorded in the manifest when ``column`` holds vectors re-fused with it.
    """
    spec = embeddings_spec(embeddings, column, image_weight)
    ids, vectors, left_out = usable_vectors(embeddings, column)
    return ItemIndex.build(ids, vectors, spec, config), left_out


class CatalogSearch:
    """``index.search`` returning positions in ``catalog`` order (products the catalog lacks: -1).

    A flat index is exact search over its vectors, so for it the same search runs as
    ``recsys.topk.exact_search`` over those vectors (distinct vectors scored once, ties settled by
    catalog position); an HNSW index is searched as it is.
    """

    def __init__(self, index: ItemIndex, catalog: IdMap):
        self.index = index
        self.to_catalog = catalog.positions_of(index.ids.product_ids.tolist())
        self.exact = self.prefix_exact = False
        self._exact_search = None
        if index.kind == "flat":
            in_catalog = np.flatnonzero(self.to_catalog >= 0)
            in_catalog = in_catalog[np.argsort(self.to_catalog[in_catalog])]       # catalog order
            stored = index.index.index.reconstruct_n(0, index.index.ntotal)
            self._exact_search = exact_search(stored[in_catalog])
            self._exact_to_catalog = self.to_catalog[in_catalog]
            self.exact = self._exact_search.exact
            self.prefix_exact = getattr(self._exact_search, "prefix_exact", False)

    def __call__(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._exact_search is not None:
            scores, positions = self._exact_search(queries, k)
            return scores, np.where(positions >= 0, self._exact_to_catalog[positions.clip(0)], -1)
        scores, positions = self.index.search(queries, k)
        return scores, np.where(positions >= 0, self.to_catalog[positions.clip(0)], -1)


def catalog_search(index: ItemIndex, catalog: IdMap) -> CatalogSearch:
    return CatalogSearch(index, catalog)
