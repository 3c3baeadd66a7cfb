"""FAISS item index with product-id labels, versioned by the vectors it was built from."""

from recsys.index.ids import IdMap, faiss_id
from recsys.index.item_index import (
    IndexConfig,
    IndexManifest,
    IndexMismatchError,
    ItemIndex,
    RecallPoint,
    VectorSpec,
    recall_at_k,
)

__all__ = ["IdMap", "faiss_id", "IndexConfig", "IndexManifest", "IndexMismatchError", "ItemIndex",
           "RecallPoint", "VectorSpec", "recall_at_k"]
