"""Blocked top-K against brute force: ties, exclusions, K larger than the catalog, block edges."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.topk import Exclusions, blocked_topk, exact_search, prior_search


def integer_vectors(n: int, d: int, seed: int, low: int = -2, high: int = 3) -> np.ndarray:
    """Small integer coordinates: every inner product is exact in float32, so ties are real ties."""
    return np.random.default_rng(seed).integers(low, high, size=(n, d)).astype(np.float32)


def brute_force(queries: np.ndarray, items: np.ndarray, k: int, excluded: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Full score matrix, exclusions removed, order (score desc, position asc), padded with -1 / -inf."""
    scores = queries.astype(np.float64) @ items.astype(np.float64).T
    positions = np.full((len(queries), k), -1, dtype=np.int64)
    best = np.full((len(queries), k), -np.inf)
    for q, row in enumerate(scores):
        order = sorted((i for i in range(len(items)) if i not in excluded[q]), key=lambda i: (-row[i], i))[:k]
        positions[q, : len(order)] = order
        best[q, : len(order)] = row[order]
    return positions, best


@pytest.mark.parametrize("k", [1, 5, 50, 120])
@pytest.mark.parametrize("block_rows", [7, 64, 10_000])
def test_matches_brute_force_with_ties_and_self_exclusion(k, block_rows):
    items = integer_vectors(300, 6, seed=1)           # 5^6 patterns over 300 rows: plenty of exact ties
    found = blocked_topk(items, k, exact_search(items), Exclusions.own_position(len(items)), block_rows=block_rows)
    positions, scores = brute_force(items, items, k, [{i} for i in range(len(items))])
    np.testing.assert_array_equal(found.scores, scores.astype(np.float32))
    np.testing.assert_array_equal(found.positions, positions)


@pytest.mark.parametrize("k", [1, 5, 50])
def test_plain_search_on_distinct_vectors_matches_brute_force(k):
    """FAISS's own answer order among tied scores is arbitrary: blocked_topk must sort it."""
    from recsys.topk import ExactSearch

    items = np.unique(integer_vectors(300, 4, seed=11), axis=0)    # distinct rows, scores tie often
    found = blocked_topk(items, k, ExactSearch(items), Exclusions.own_position(len(items)), block_rows=64)
    positions, scores = brute_force(items, items, k, [{i} for i in range(len(items))])
    np.testing.assert_array_equal(found.scores, scores.astype(np.float32))
    np.testing.assert_array_equal(found.positions, positions)


def test_ties_are_broken_by_lower_position():
    items = np.ones((40, 4), dtype=np.float32)        # every pair scores exactly 4
    found = blocked_topk(items[:3], 5, exact_search(items), block_rows=2)
    np.testing.assert_array_equal(found.positions, np.tile(np.arange(5), (3, 1)))


def test_k_larger_than_catalog_returns_every_other_item_then_padding():
    items = integer_vectors(7, 4, seed=2)
    found = blocked_topk(items, 20, exact_search(items), Exclusions.own_position(7))
    assert found.positions.shape == (7, 20)
    np.testing.assert_array_equal(found.counts(), np.full(7, 6))
    assert (found.positions[:, 6:] == -1).all() and np.isneginf(found.scores[:, 6:]).all()
    for q in range(7):
        assert sorted(found.positions[q, :6]) == [i for i in range(7) if i != q]


def test_arbitrary_exclusions_are_never_returned():
    rng = np.random.default_rng(3)
    items = integer_vectors(200, 5, seed=4)
    queries = integer_vectors(37, 5, seed=5)
    excluded = [set(rng.choice(200, size=rng.integers(0, 150), replace=False).tolist()) for _ in range(37)]
    exclusions = Exclusions.from_lists([sorted(e) for e in excluded])
    found = blocked_topk(queries, 60, exact_search(items), exclusions, block_rows=8)
    positions, scores = brute_force(queries, items, 60, excluded)
    np.testing.assert_array_equal(found.positions, positions)
    np.testing.assert_array_equal(found.scores, scores.astype(np.float32))
    for q, e in enumerate(excluded):
        assert not set(found.positions[q].tolist()) & e


def test_search_only_ever_sees_one_block_of_queries():
    items = integer_vectors(50, 4, seed=6)
    seen = []
    inner = exact_search(items)

    def spy(queries, k):
        seen.append(queries.shape[0])
        return inner(queries, k)

    blocked_topk(items, 3, spy, block_rows=16)
    assert seen == [16, 16, 16, 2]


def test_prior_search_orders_by_prior_then_position_and_respects_exclusions():
    prior = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=np.float32)
    found = blocked_topk(np.zeros((2, 0), np.float32), 4, prior_search(prior), Exclusions.from_lists([[2], []]))
    np.testing.assert_array_equal(found.positions, [[1, 4, 3, 0], [1, 2, 4, 3]])


def test_exclusions_take_and_union():
    ex = Exclusions.from_lists([[3, 1], [], [2, 2, 5]])
    sub = ex.take(np.array([2, 0]))
    assert [sub.indices[sub.indptr[i]:sub.indptr[i + 1]].tolist() for i in range(2)] == [[2, 2, 5], [1, 3]]
    both = ex.union(Exclusions.own_position(3))
    assert [sorted(set(both.indices[both.indptr[i]:both.indptr[i + 1]].tolist())) for i in range(3)] == \
        [[0, 1, 3], [1], [2, 5]]


def test_k_must_be_positive():
    with pytest.raises(ValueError):
        blocked_topk(np.zeros((1, 2), np.float32), 0, exact_search(np.zeros((3, 2), np.float32)))


def test_repeated_vectors_are_scored_once_and_ordered_by_position():
    from recsys.topk import DeduplicatedSearch

    rng = np.random.default_rng(8)
    distinct = integer_vectors(40, 5, seed=9, low=-3, high=4)
    items = distinct[rng.integers(0, 40, size=400)]           # every vector about ten times
    search = exact_search(items)
    assert isinstance(search, DeduplicatedSearch) and search.n_distinct <= 40
    for k in (1, 7, 60, 500):
        found = blocked_topk(items[:50], k, search, Exclusions.own_position(50), block_rows=16)
        positions, scores = brute_force(items[:50], items, k, [{i} for i in range(50)])
        np.testing.assert_array_equal(found.positions, positions)
        np.testing.assert_array_equal(found.scores, scores.astype(np.float32))


def test_row_groups_match_numpys_unique_rows():
    from recsys.topk.exact import row_groups

    rng = np.random.default_rng(3)
    rows = integer_vectors(30, 6, seed=4, low=-2, high=3)[rng.integers(0, 30, size=300)]
    first, inverse = row_groups(rows)
    _, np_first, np_inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    assert sorted(first) == sorted(np_first)
    np.testing.assert_array_equal(rows[first][inverse], rows)
    # the same partition of the rows: equal inverse codes exactly where numpy's are equal
    np.testing.assert_array_equal(inverse[:, None] == inverse[None, :], np_inverse.ravel()[:, None] == np_inverse.ravel()[None, :])


def test_a_signed_zero_query_gets_the_same_answer():
    """0.0 and -0.0 differ as bytes, so they are searched as two vectors; the answers are equal."""
    items = integer_vectors(40, 4, seed=5, low=-2, high=3)
    queries = np.array([[0.0, 1.0, 2.0, 0.0], [-0.0, 1.0, 2.0, -0.0], [0.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    found = blocked_topk(queries, 10, exact_search(np.concatenate([items, items[:5]])))
    np.testing.assert_array_equal(found.positions[0], found.positions[1])
    np.testing.assert_array_equal(found.scores[0], found.scores[1])


def test_distinct_vectors_use_the_plain_search():
    from recsys.topk import ExactSearch

    assert type(exact_search(np.eye(4, dtype=np.float32))) is ExactSearch
