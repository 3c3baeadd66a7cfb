"""The FAISS item index over the content vectors: exact while small, HNSW past a size, versioned.

The fused vectors are indexed as re-fused with the text/image weights tuned on validation
(models/hybrid_weights), so the index depends on that asset; its manifest records the weight.
"""

import time

import dagster as dg
import numpy as np
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config
from recsys.evaluation.tuning import load_tuned, tuned_image_weight
from recsys.gold.model_inputs import FUSED_COLUMN, with_fusion
from recsys.index import IndexSettings, build_from_embeddings
from resources import LakeResource

GROUP = "index"


class FaissIndexConfig(dg.Config):
    vector_column: str = FUSED_COLUMN
    """Which item_embeddings column to index (fused_vector, image_vector or text_vector). fused_vector is
    re-fused with the tuned text/image weights of models/hybrid_weights when they exist."""
    exact_max_items: int = field_default(IndexSettings, "exact_max_items")
    """Exact flat inner-product search up to this many items; HNSW above."""
    hnsw_m: int = field_default(IndexSettings, "hnsw_m")
    hnsw_ef_construction: int = field_default(IndexSettings, "hnsw_ef_construction")
    target_recall: float = field_default(IndexSettings, "target_recall")
    """HNSW efSearch is raised until recall@10 against exact search reaches this (blocking check)."""
    recall_queries: int = field_default(IndexSettings, "recall_queries")
    """Catalog items used as queries to measure HNSW recall."""

    def settings(self) -> IndexSettings:
        return from_config(IndexSettings, self)


def _neighbour_examples(index, names: dict[str, str], count: int = 5, k: int = 5) -> dg.MarkdownMetadataValue:
    """A few catalog items and their nearest indexed neighbours, by name."""
    step = max(1, len(index) // count)
    product_ids = [str(p) for p in index.ids.product_ids[::step][:count]]
    found = index.search_product_ids(np.stack([index.vector(p) for p in product_ids]), k + 1)
    rows = [{"product": names.get(p, p), "nearest": " · ".join(names.get(q, q) for q, _ in hits if q != p)[:300]}
            for p, hits in zip(product_ids, found)]
    return metadata.preview(pl.DataFrame(rows), rows=count)


@dg.asset(
    code_version="2026-12-07",
    key=keys.FAISS_INDEX,
    group_name=GROUP,
    deps=[keys.ITEM_EMBEDDINGS, keys.HYBRID_WEIGHTS],
    kinds={"python", "faiss"},
    description="models/faiss_index/: FAISS IndexIDMap2 over the item vectors (fused with the text/image weights "
                "tuned on validation), labelled by product id, with ids.parquet and manifest.json (vector model + "
                "version, fusion weight, faiss version, kind, measured recall).",
    check_specs=[
        dg.AssetCheckSpec("ann_recall", asset=keys.FAISS_INDEX, blocking=True,
                          description="Exact index, or HNSW recall@10 vs exact >= target_recall on sampled items."),
        dg.AssetCheckSpec("every_vector_indexed", asset=keys.FAISS_INDEX, blocking=True,
                          description="Every product with a usable vector is in the index exactly once."),
    ],
)
def faiss_index(context: dg.AssetExecutionContext, config: FaissIndexConfig, lake: LakeResource):
    started = time.perf_counter()
    embeddings = lake.read(keys.ITEM_EMBEDDINGS)
    image_weight = (tuned_image_weight(load_tuned(lake.path(keys.HYBRID_WEIGHTS)))
                    if config.vector_column == FUSED_COLUMN else None)
    index, left_out = build_from_embeddings(with_fusion(embeddings, image_weight), config.vector_column,
                                            config.settings(), image_weight=image_weight)
    index.save(lake.path(keys.FAISS_INDEX))
    manifest = index.manifest
    fusion = ("as stored" if image_weight is None
              else f"re-fused: image {image_weight:g} / text {1 - image_weight:g} (tuned on validation)")
    context.log.info("%s index over %d %s vectors (%s %s, %s) in %.1fs", manifest.kind, len(index),
                     config.vector_column, manifest.vectors.model, manifest.vectors.version, fusion,
                     time.perf_counter() - started)
    names = dict(lake.read(keys.SILVER_PRODUCTS).select("product_id", "name").iter_rows()) \
        if lake.has_table(keys.SILVER_PRODUCTS) else {}
    recall = manifest.recall if manifest.recall is not None else 1.0
    yield dg.MaterializeResult(metadata={
        **_index_metadata(index, fusion, recall), "not_indexed": left_out.height,
        "nearest_neighbours": _neighbour_examples(index, names),
        "path": dg.MetadataValue.path(str(lake.path(keys.FAISS_INDEX)))})
    yield dg.AssetCheckResult(
        check_name="ann_recall", asset_key=keys.FAISS_INDEX,
        passed=manifest.kind == "flat" or (manifest.recall or 0.0) >= config.target_recall,
        metadata={"kind": manifest.kind, "recall_at_10": recall, "target": config.target_recall})
    expected = embeddings.height - left_out.height
    yield dg.AssetCheckResult(
        check_name="every_vector_indexed", asset_key=keys.FAISS_INDEX, passed=len(index) == expected,
        metadata={"indexed": len(index), "usable_vectors": expected, "left_out": left_out.height})


def _index_metadata(index, fusion: str, recall: float) -> dict:
    """What the UI shows of a built index: its kind, vectors, and the recall it reached."""
    manifest = index.manifest
    curve = pl.DataFrame([p.__dict__ for p in manifest.recall_curve]) if manifest.recall_curve else None
    return {"dagster/row_count": len(index), "kind": manifest.kind,
            "vector_model": f"{manifest.vectors.model} {manifest.vectors.version}",
            "vector_column": manifest.vectors.column, "fusion": fusion, "dimension": manifest.vectors.dim,
            "faiss_version": manifest.faiss_version, "build_seconds": manifest.build_seconds,
            "recall_at_10": recall,
            "recall_curve": metadata.preview(curve) if curve is not None else "exact search (recall 1.0)"}
