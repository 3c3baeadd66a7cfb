"""The FAISS item index: product-id labels, exact vs HNSW, measured recall, versioned save/load."""

from __future__ import annotations

import faiss
import numpy as np
import polars as pl
import pytest

from recsys.index import (
    IdMap,
    IndexSettings,
    IndexMismatchError,
    ItemIndex,
    VectorSpec,
    faiss_id,
)
from recsys.index.item_index import IDS_FILE
from recsys.topk import Exclusions, blocked_topk, exact_search

SPEC = VectorSpec(model="test-encoder", version="1", column="fused_vector", dim=16)


def unit_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def product_ids(n: int) -> list[str]:
    return [f"myntra_styles:{1000 + i}" for i in range(n)]


def test_labels_are_hashed_product_ids_not_row_positions():
    ids, vectors = product_ids(50), unit_vectors(50)
    index = ItemIndex.build(ids, vectors, SPEC)
    labels = faiss.vector_to_array(index.index.id_map)
    assert labels.tolist() == [faiss_id(p) for p in ids]
    assert not np.array_equal(labels, np.arange(50))


def test_search_returns_product_ids_whatever_the_insertion_order():
    ids, vectors = product_ids(200), unit_vectors(200, seed=1)
    shuffled = np.random.default_rng(2).permutation(200)
    index = ItemIndex.build([ids[i] for i in shuffled], vectors[shuffled], SPEC)
    results = index.search_product_ids(vectors[:5], 1)
    assert [r[0][0] for r in results] == ids[:5]
    np.testing.assert_allclose(index.vector(ids[7]), vectors[7])
    with pytest.raises(KeyError):
        index.vector("asos:missing")


def test_exact_below_threshold_hnsw_above_with_recall_measured():
    vectors = unit_vectors(3000, d=32, seed=3)
    spec = VectorSpec("m", "1", "fused_vector", 32)
    small = ItemIndex.build(product_ids(3000), vectors, spec, IndexSettings(exact_max_items=3000))
    assert small.kind == "flat" and small.manifest.recall is None
    big = ItemIndex.build(product_ids(3000), vectors, spec,
                          IndexSettings(exact_max_items=1000, recall_queries=300, target_recall=0.95))
    manifest = big.manifest
    assert manifest.kind == "hnsw"
    assert manifest.recall >= 0.95 and manifest.recall_k == 10
    assert manifest.hnsw["ef_search"] == manifest.recall_curve[-1].ef_search
    # The recorded recall is honest: recompute it independently on other queries.
    queries = unit_vectors(200, d=32, seed=4)
    _, truth = exact_search(vectors)(queries, 10)
    _, found = big.search(queries, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
    assert overlap >= 0.9


def test_save_and_load_round_trip_keeps_ids_results_and_ef_search(tmp_path):
    vectors = unit_vectors(1500, d=16, seed=5)
    index = ItemIndex.build(product_ids(1500), vectors, SPEC, IndexSettings(exact_max_items=500, recall_queries=100))
    index.set_ef_search(index.manifest.hnsw["ef_search"])
    path = index.save(tmp_path / "faiss_index")
    loaded = ItemIndex.load(path, expect=SPEC)
    assert loaded.manifest == index.manifest
    assert loaded.manifest.faiss_version == faiss.__version__
    assert faiss.downcast_index(loaded.index.index).hnsw.efSearch == index.manifest.hnsw["ef_search"]
    assert loaded.search_product_ids(vectors[:20], 5) == index.search_product_ids(vectors[:20], 5)


@pytest.mark.parametrize("other", [
    VectorSpec("other-encoder", "1", "fused_vector", 16),
    VectorSpec("test-encoder", "2", "fused_vector", 16),
    VectorSpec("test-encoder", "1", "image_vector", 16),
    VectorSpec("test-encoder", "1", "fused_vector", 32),
    VectorSpec("test-encoder", "1", "fused_vector", 16, image_weight=0.25),
])
def test_load_refuses_an_index_built_for_other_vectors(tmp_path, other):
    path = ItemIndex.build(product_ids(20), unit_vectors(20), SPEC).save(tmp_path / "ix")
    with pytest.raises(IndexMismatchError):
        ItemIndex.load(path, expect=other)


def test_load_refuses_a_tampered_id_map(tmp_path):
    import polars as pl

    path = ItemIndex.build(product_ids(20), unit_vectors(20), SPEC).save(tmp_path / "ix")
    ids = pl.read_parquet(path / IDS_FILE)
    ids.with_columns(pl.col("faiss_id").reverse()).write_parquet(path / IDS_FILE)
    with pytest.raises(IndexMismatchError):
        ItemIndex.load(path)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="faiss_index"):
        ItemIndex.load(tmp_path / "nothing")


def test_failed_save_leaves_the_previous_index(tmp_path, monkeypatch):
    path = ItemIndex.build(product_ids(20), unit_vectors(20, seed=1), SPEC).save(tmp_path / "ix")
    before = ItemIndex.load(path).search_product_ids(unit_vectors(3, seed=9), 3)
    newer = ItemIndex.build(product_ids(30), unit_vectors(30, seed=2), SPEC)

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(OSError):
        newer.save(path)
    monkeypatch.undo()
    assert ItemIndex.load(path).search_product_ids(unit_vectors(3, seed=9), 3) == before
    # No staging folder is left behind (the swap's lock file may stay: locks are never deleted).
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ix"]


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        ItemIndex.build(product_ids(3), unit_vectors(3, d=8), SPEC)
    with pytest.raises(ValueError, match="NaN"):
        ItemIndex.build(product_ids(2), np.full((2, 16), np.nan, np.float32), SPEC)
    with pytest.raises(ValueError, match="duplicate"):
        IdMap(["a", "b", "a"])


def test_id_map_positions():
    ids = IdMap(["x", "y", "z"])
    np.testing.assert_array_equal(ids.positions_of(["z", "nope", "x"]), [2, -1, 0])
    # A polars column (how an interaction log is matched), with nulls and near misses, and an empty map.
    np.testing.assert_array_equal(ids.positions_of(pl.Series(["y", None, "Y", "y ", "x"])), [1, -1, -1, -1, 0])
    assert ids.positions_of([]).dtype == np.int64 and len(ids.positions_of([])) == 0
    np.testing.assert_array_equal(IdMap([]).positions_of(["x"]), [-1])
    np.testing.assert_array_equal(ids.positions(np.array([[faiss_id("y"), -1]])), [[1, -1]])


def test_index_search_plugs_into_blocked_topk_with_self_excluded():
    vectors = unit_vectors(100, seed=6)
    index = ItemIndex.build(product_ids(100), vectors, SPEC)
    found = blocked_topk(vectors, 10, index.search, Exclusions.own_position(100), block_rows=30)
    assert not (found.positions == np.arange(100)[:, None]).any()
    expected = blocked_topk(vectors, 10, exact_search(vectors), Exclusions.own_position(100))
    np.testing.assert_array_equal(found.positions, expected.positions)


def test_recall_counts_an_equally_good_duplicate_as_a_hit():
    from recsys.index import recall_at_k, tie_aware_recall

    vectors = np.repeat(unit_vectors(5, seed=7), 4, axis=0)      # every vector four times
    queries = vectors[[0]]
    truth = np.array([[1, 2, 3]])                                # the other copies of item 0
    other_copies = np.array([[1, 2, 3]])
    swapped = np.array([[1, 2, 0]])                              # item 0 itself ties too
    wrong = np.array([[1, 2, 4]])                                # item 4 is another vector
    assert tie_aware_recall(other_copies, truth, queries, vectors) == 1.0
    assert tie_aware_recall(swapped, truth, queries, vectors) == 1.0 > recall_at_k(swapped, truth)
    assert tie_aware_recall(wrong, truth, queries, vectors) == pytest.approx(2 / 3)
