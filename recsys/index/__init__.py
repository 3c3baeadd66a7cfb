"""FAISS item index with product-id labels, versioned by the vectors it was built from."""

from recsys.index.from_embeddings import (
    CatalogSearch,
    build_from_embeddings,
    catalog_search,
    embeddings_spec,
    usable_vectors,
)
from recsys.index.ids import IdMap, faiss_id
from recsys.index.item_index import (
    IndexSettings,
    IndexManifest,
    IndexMismatchError,
    ItemIndex,
    RecallPoint,
    VectorSpec,
    recall_at_k,
    tie_aware_recall,
)

__all__ = ["CatalogSearch", "build_from_embeddings", "catalog_search", "embeddings_spec", "usable_vectors", "IdMap", "faiss_id", "IndexSettings", "IndexManifest", "IndexMismatchError", "ItemIndex",
           "RecallPoint", "VectorSpec", "recall_at_k", "tie_aware_recall"]
