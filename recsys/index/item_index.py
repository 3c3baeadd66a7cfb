"""The item index: FAISS over item vectors, labelled by product id, saved with what it was built from.

Exact (``IndexFlatIP``) up to ``IndexSettings.exact_max_items`` vectors, where one BLAS pass is
fast; HNSW past that, with ``efSearch`` raised until recall@k against exact search, measured on
a sample of catalog items (each query's own item left out), reaches ``target_recall``. Inner
product on L2-normalized vectors is cosine similarity.

Saved as a folder: ``index.faiss`` (an ``IndexIDMap2`` whose labels are ``faiss_id(product_id)``),
``ids.parquet`` (product_id, faiss_id in insertion order) and ``manifest.json`` (the vectors'
model/version/column/dimension, faiss version, kind, parameters, measured recall). Loading
checks the manifest against the vectors the caller is about to search with and refuses a
mismatch: an index built for other vectors would return confident nonsense.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
import polars as pl

from recsys import storage
from recsys.index.ids import IdMap
from recsys.topk import exact_search

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_FILE, IDS_FILE, MANIFEST_FILE = "index.faiss", "ids.parquet", "manifest.json"


class IndexMismatchError(ValueError):
    """The saved index was built for other vectors (model, version, column or dimension)."""


@dataclass(frozen=True)
class VectorSpec:
    """What the indexed vectors are: the encoder that made them and which column they came from.

    ``image_weight``: for a fused column re-mixed from the image and text vectors with tuned weights
    (image ``image_weight``, text ``1 - image_weight``), that weight; None = the column as stored.
    """

    model: str
    version: str
    column: str
    dim: int
    image_weight: float | None = None


@dataclass(frozen=True)
class IndexSettings:
    exact_max_items: int = 250_000   # exact flat search up to here, while a full pass per query stays cheap
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    target_recall: float = 0.95
    recall_k: int = 10
    recall_queries: int = 1_000
    ef_search_steps: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    add_batch: int = 20_000
    seed: int = 0


@dataclass(frozen=True)
class RecallPoint:
    ef_search: int
    recall: float               # tie-aware: a returned item scoring at least the exact K-th score counts
    recall_ids: float           # plain overlap with the exact result's ids (ties broken arbitrarily)
    queries_per_second: float


@dataclass(frozen=True)
class IndexManifest:
    kind: str                      # "flat" | "hnsw"
    vectors: VectorSpec
    n_items: int
    faiss_version: str
    built_at: str
    build_seconds: float
    metric: str = "inner_product"
    hnsw: dict[str, int] | None = None
    recall_k: int | None = None
    recall: float | None = None    # measured recall@recall_k vs exact (None for exact indexes)
    recall_curve: list[RecallPoint] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> IndexManifest:
        raw = json.loads(text)
        raw["vectors"] = VectorSpec(**raw["vectors"])
        raw["recall_curve"] = [RecallPoint(**p) for p in raw.get("recall_curve", [])]
        return cls(**raw)


class ItemIndex:
    """A FAISS index whose labels are product ids, plus the manifest of what it indexes."""

    def __init__(self, index: faiss.Index, ids: IdMap, manifest: IndexManifest):
        self.index, self.ids, self.manifest = index, ids, manifest

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @classmethod
    def build(cls, product_ids: list[str], vectors: np.ndarray, spec: VectorSpec,
              config: IndexSettings = IndexSettings()) -> ItemIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != spec.dim:
            raise ValueError(f"vectors have shape {vectors.shape}, expected (n, {spec.dim})")
        if len(product_ids) != len(vectors):
            raise ValueError(f"{len(product_ids)} product ids for {len(vectors)} vectors")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinite values")
        started = time.perf_counter()
        ids = IdMap(product_ids)
        exact = len(vectors) <= config.exact_max_items
        base = faiss.IndexFlatIP(spec.dim) if exact else faiss.IndexHNSWFlat(spec.dim, config.hnsw_m,
                                                                             faiss.METRIC_INNER_PRODUCT)
        if not exact:
            base.hnsw.efConstruction = config.hnsw_ef_construction
        index = faiss.IndexIDMap2(base)
        for start in range(0, len(vectors), config.add_batch):
            stop = min(start + config.add_batch, len(vectors))
            index.add_with_ids(vectors[start:stop], ids.labels[start:stop])
            elapsed = time.perf_counter() - started
            log.info("index add: %d/%d vectors (%.0f/s)", stop, len(vectors), stop / max(elapsed, 1e-9))
        manifest = IndexManifest(kind="flat" if exact else "hnsw", vectors=spec, n_items=len(vectors),
                                 faiss_version=faiss.__version__,
                                 built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 build_seconds=0.0)
        item_index = cls(index, ids, manifest)
        if not exact:
            curve = item_index._tune_ef_search(vectors, config)
            chosen = next((p for p in curve if p.recall >= config.target_recall), curve[-1])
            item_index.set_ef_search(chosen.ef_search)
            manifest = replace(manifest, recall_k=config.recall_k, recall=chosen.recall, recall_curve=curve,
                               hnsw={"m": config.hnsw_m, "ef_construction": config.hnsw_ef_construction,
                                     "ef_search": chosen.ef_search})
        item_index.manifest = replace(manifest, build_seconds=round(time.perf_counter() - started, 3))
        return item_index

    def require(self, expect: VectorSpec) -> None:
        """Raise IndexMismatchError unless this index was built for ``expect`` vectors."""
        _require(self.manifest, expect, "this index")

    def set_ef_search(self, ef_search: int) -> None:
        faiss.downcast_index(self.index.index).hnsw.efSearch = ef_search

    def _tune_ef_search(self, vectors: np.ndarray, config: IndexSettings) -> list[RecallPoint]:
        """recall@k vs exact for increasing efSearch, stopping at the first that reaches the target.

        Queries are catalog items with their own item left out of both answers. Recall is
        tie-aware: catalogs hold exact duplicates (same text, same photo), and when ten items tie
        with the 10th best, any of them is a correct answer; plain id overlap is recorded beside it.
        """
        rng = np.random.default_rng(config.seed)
        sample = np.sort(rng.choice(len(vectors), size=min(config.recall_queries, len(vectors)), replace=False))
        k = config.recall_k
        queries = vectors[sample]
        _, exact = exact_search(vectors)(queries, k + 1)
        truth = _drop_self(exact, sample, k)
        curve = []
        for ef in config.ef_search_steps:
            self.set_ef_search(max(ef, k + 1))
            started = time.perf_counter()
            _, found = self.search(queries, k + 1)
            qps = len(sample) / max(time.perf_counter() - started, 1e-9)
            found = _drop_self(found, sample, k)
            point = RecallPoint(ef_search=ef, recall=round(tie_aware_recall(found, truth, queries, vectors), 4),
                                recall_ids=round(recall_at_k(found, truth), 4), queries_per_second=round(qps, 1))
            log.info("HNSW efSearch=%d: recall@%d=%.4f (ids %.4f) at %.0f queries/s", ef, k, point.recall,
                     point.recall_ids, qps)
            curve.append(point)
            if point.recall >= config.target_recall:
                break
        return curve

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the ``k`` best items per query; positions index ``self.ids``, -1 = none."""
        scores, labels = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, self.ids.positions(labels)

    def search_product_ids(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Per query, [(product_id, score), ...] best first."""
        scores, positions = self.search(queries, k)
        return [[(str(self.ids.product_ids[p]), float(s)) for p, s in zip(row_p, row_s) if p >= 0]
                for row_p, row_s in zip(positions, scores)]

    def vector(self, product_id: str) -> np.ndarray:
        """The stored vector of ``product_id`` (KeyError if it is not indexed)."""
        position = self.ids.positions_of([product_id])[0]
        if position < 0:
            raise KeyError(f"product {product_id!r} is not in the index")
        return self.index.reconstruct(int(self.ids.labels[position]))

    def save(self, path: Path) -> Path:
        """Write the folder atomically: a reader sees the previous index or this one, never a mix."""
        path = Path(path)
        staging = storage.staging_dir(path)
        try:
            faiss.write_index(self.index, str(staging / INDEX_FILE))
            pl.DataFrame({"product_id": self.ids.product_ids.tolist(), "faiss_id": self.ids.labels}).write_parquet(
                staging / IDS_FILE, compression=storage.COMPRESSION)
            (staging / MANIFEST_FILE).write_text(self.manifest.to_json())
            storage.replace_dir_atomic(staging, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: Path, expect: VectorSpec | None = None) -> ItemIndex:
        """Load a saved index; with ``expect``, refuse one built for other vectors (IndexMismatchError)."""
        with storage.reading_dir(Path(path)) as path:
            if not (path / MANIFEST_FILE).exists():
                raise FileNotFoundError(f"no index at {path}: materialize models/faiss_index first")
            manifest = IndexManifest.from_json((path / MANIFEST_FILE).read_text())
            if manifest.format_version != FORMAT_VERSION:
                raise IndexMismatchError(
                    f"index format {manifest.format_version} at {path}; this code reads {FORMAT_VERSION}")
            if expect is not None:
                _require(manifest, expect, path)
            ids_table = pl.read_parquet(path / IDS_FILE)
            index = faiss.read_index(str(path / INDEX_FILE))
        ids = IdMap(ids_table["product_id"].to_list())
        if not np.array_equal(ids.labels, ids_table["faiss_id"].to_numpy()):
            raise IndexMismatchError(f"id map at {path} was written with another product-id hash")
        if index.ntotal != len(ids) or index.d != manifest.vectors.dim:
            raise IndexMismatchError(f"index at {path} holds {index.ntotal} x {index.d} vectors, "
                                     f"manifest/id map say {len(ids)} x {manifest.vectors.dim}")
        item_index = cls(index, ids, manifest)
        if manifest.hnsw is not None:
            item_index.set_ef_search(manifest.hnsw["ef_search"])
        return item_index


def _require(manifest: IndexManifest, expect: VectorSpec, where) -> None:
    if manifest.vectors != expect:
        raise IndexMismatchError(f"index at {where} was built for {manifest.vectors}, not {expect}: rebuild "
                                 "models/faiss_index")


def _drop_self(positions: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Each row's first ``k`` positions other than its own item (rows keep order)."""
    keep = positions != own[:, None]
    out = np.full((len(positions), k), -1, dtype=np.int64)
    for row, (p, m) in enumerate(zip(positions, keep)):
        kept = p[m][:k]
        out[row, : len(kept)] = kept
    return out


def tie_aware_recall(found: np.ndarray, truth: np.ndarray, queries: np.ndarray, vectors: np.ndarray) -> float:
    """Mean share of each query's K answers that score at least the exact K-th best score.

    ``found``/``truth``: (q, K) positions into ``vectors`` (-1 = none). Equal to plain recall when
    there are no ties at the K-th place; counts an equally good duplicate as a hit when there are.
    """
    k = truth.shape[1]
    kth = np.einsum("qd,qd->q", queries, vectors[truth[:, -1].clip(0)])
    scores = np.einsum("qd,qkd->qk", queries, vectors[found.clip(0)])
    hits = ((scores >= kth[:, None] - 1e-5) & (found >= 0)).sum(axis=1)
    return float(np.minimum(hits, k).mean() / k) if len(found) else 1.0


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (positions; -1 entries ignored)."""
    total, hits = 0, 0
    for f, t in zip(found, truth):
        t = t[t >= 0]
        total += len(t)
        hits += len(np.intersect1d(f[f >= 0], t))
    return hits / total if total else 1.0
