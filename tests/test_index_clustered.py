"""The clustered search that answers new shoppers: exact on small catalogs, tuned to its recall target on large ones."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.index.clustered import ClusteredSearchSettings, InnerProductSearch
from recsys.index.item_index import tie_aware_recall


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _catalog(n: int, dim: int = 32, groups: int = 60, seed: int = 0) -> np.ndarray:
    """Item vectors in style groups, as real catalogs are, not uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    return _unit(centres[rng.integers(groups, size=n)] + 0.45 * rng.normal(size=(n, dim)))


def _exact(queries: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :k]


def test_a_small_catalog_is_searched_exactly():
    items = _catalog(500)
    queries = _catalog(20, seed=1)
    search = InnerProductSearch.build(items, queries)
    assert search.quality.kind == "flat" and search.quality.recall == 1.0
    scores, rows = search.search(queries, 10)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, _exact(queries, items, 10), 1), rtol=1e-5)


def test_a_large_catalog_reads_a_few_clusters_and_keeps_its_recall_on_new_queries():
    items = _catalog(12_000)
    settings = ClusteredSearchSettings(exact_max_items=1_000, target_recall=0.95)
    search = InnerProductSearch.build(items, _catalog(600, seed=2), settings)
    assert search.quality.kind == "ivf" and search.quality.recall >= 0.95
    assert search.quality.nprobe < search.quality.clusters / 4      # far fewer than every cluster
    fresh = _catalog(300, seed=3)
    _, found = search.search(fresh, 10)
    assert tie_aware_recall(found, _exact(fresh, items, 10), fresh, items) >= 0.92


def test_an_unreachable_target_searches_every_cluster_which_is_exact():
    items = _catalog(3_000)
    settings = ClusteredSearchSettings(exact_max_items=100, target_recall=1.01, probe_steps=(1, 2))
    search = InnerProductSearch.build(items, _catalog(50, seed=4), settings)
    assert search.quality.nprobe == search.quality.clusters and search.quality.recall == 1.0
    queries = _catalog(30, seed=5)
    _, rows = search.search(queries, 5)
    assert (rows == _exact(queries, items, 5)).mean() > 0.99


def test_tuning_needs_a_real_query():
    with pytest.raises(ValueError, match="no non-zero sample query"):
        InnerProductSearch.build(_catalog(2_000), np.zeros((5, 32), np.float32),
                                 ClusteredSearchSettings(exact_max_items=100))
