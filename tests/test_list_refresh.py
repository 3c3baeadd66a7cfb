"""Incremental top-K lists: recomputing only the planned queries gives exactly the full rebuild."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.gold.list_refresh import (ListState, Space, carried_state, item_hashes, plan_refresh, settings_hash,
                                      source_thresholds)

SIZE, K = 8, 5


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _catalog(ids, a, b):
    return {"ids": list(ids), "a": _unit(a), "b": _unit(b)}


def _lists(catalog, queries):
    """A small two-source candidate + re-rank builder: the thing being refreshed."""
    a, b = catalog["a"], catalog["b"]
    sims_a, sims_b = a[queries] @ a.T, b[queries] @ b.T
    for row, q in enumerate(queries):
        sims_a[row, q] = sims_b[row, q] = -np.inf
    cand = [np.union1d(np.argsort(-sims_a[r], kind="stable")[:SIZE], np.argsort(-sims_b[r], kind="stable")[:SIZE])
            for r in range(len(queries))]
    width = max(len(c) for c in cand)
    candidates = np.full((len(queries), width), -1, dtype=np.int64)
    lists = {}
    for r, (q, c) in enumerate(zip(queries, cand)):
        candidates[r, :len(c)] = c
        score = a[q] @ a[c].T + 0.5 * (b[q] @ b[c].T)
        score = (score - score.min()) / (score.max() - score.min())       # depends on the whole candidate set
        order = np.lexsort((c, -score))[:K]
        lists[catalog["ids"][q]] = [catalog["ids"][c[i]] for i in order]
    return candidates, lists


def _spaces(catalog):
    return {"a": Space(catalog["a"]), "b": Space(catalog["b"])}


def _hashes(catalog):
    return item_hashes(pl.DataFrame({"product_id": catalog["ids"]}), _spaces(catalog), {})


def _state(catalog, candidates, digest="t1"):
    return ListState(settings_hash({"k": K}), catalog["ids"], _hashes(catalog), candidates.astype(np.int32),
                     source_thresholds(candidates, _spaces(catalog), SIZE), digest)


def test_refreshing_the_planned_lists_equals_a_full_rebuild():
    rng = np.random.default_rng(0)
    n = 400
    raw_a, raw_b = rng.normal(size=(n, 6)), rng.normal(size=(n, 4))
    before = _catalog([f"p{i:03d}" for i in range(n)], raw_a, raw_b)
    candidates, lists_before = _lists(before, np.arange(n))
    state = _state(before, candidates)

    # 1% change: 2 removed, 1 changed, 2 new.
    keep = [i for i in range(n) if i not in (10, 200)]
    a, b = raw_a[keep].copy(), raw_b[keep].copy()
    ids = [before["ids"][i] for i in keep]
    a[50] = rng.normal(size=6)
    after = _catalog(ids + ["new1", "new2"], np.vstack([a, rng.normal(size=(2, 6))]),
                     np.vstack([b, rng.normal(size=(2, 4))]))
    m = len(after["ids"])

    plan = plan_refresh(state, settings_hash({"k": K}), after["ids"], _hashes(after), _spaces(after), "t1")
    assert not plan.full and plan.counts["new"] == 2 and plan.counts["changed"] == 1 and plan.counts["removed"] == 2
    assert 5 <= plan.counts["recomputed"] < m // 4, plan.counts

    recompute = np.flatnonzero(plan.recompute)
    _, fresh = _lists(after, recompute)
    carried = {pid: lists_before[pid] for i, pid in enumerate(after["ids"]) if not plan.recompute[i]}
    _, full = _lists(after, np.arange(m))
    assert {**carried, **fresh} == full

    # The next state carries the untouched candidates over, remapped; a second refresh on the same data is empty.
    new_candidates, _ = _lists(after, recompute)
    carried_rows, carried_thresholds = carried_state(state, after["ids"], np.flatnonzero(~plan.recompute))
    full_candidates, _ = _lists(after, np.arange(m))
    width = max(new_candidates.shape[1], carried_rows.shape[1])
    pad = lambda x: np.pad(x, ((0, 0), (0, width - x.shape[1])), constant_values=-1)  # noqa: E731
    merged = np.zeros((m, width), dtype=np.int64)
    merged[recompute] = pad(new_candidates)
    merged[~plan.recompute] = pad(carried_rows)
    assert [set(r[r >= 0]) for r in merged] == [set(r[r >= 0]) for r in full_candidates]
    np.testing.assert_array_equal(carried_thresholds["a"],
                                  source_thresholds(full_candidates, _spaces(after), SIZE)["a"][~plan.recompute])
    again = plan_refresh(_state(after, merged), settings_hash({"k": K}), after["ids"], _hashes(after),
                         _spaces(after), "t1")
    assert again.counts["recomputed"] == 0


def test_new_settings_or_a_foreign_table_rebuild_everything(tmp_path):
    rng = np.random.default_rng(1)
    catalog = _catalog([f"p{i}" for i in range(30)], rng.normal(size=(30, 3)), rng.normal(size=(30, 3)))
    candidates, _ = _lists(catalog, np.arange(30))
    state = _state(catalog, candidates)
    state.save(tmp_path / "state")
    loaded = ListState.load(tmp_path / "state")
    assert loaded.product_ids == catalog["ids"] and np.array_equal(loaded.candidates, state.candidates)
    hashes, spaces = _hashes(catalog), _spaces(catalog)
    assert plan_refresh(loaded, settings_hash({"k": K}), catalog["ids"], hashes, spaces, "t1").counts["recomputed"] == 0
    assert plan_refresh(loaded, settings_hash({"k": K + 1}), catalog["ids"], hashes, spaces, "t1").full
    assert plan_refresh(loaded, settings_hash({"k": K}), catalog["ids"], hashes, spaces, "other").full
    assert plan_refresh(None, "x", catalog["ids"], hashes, spaces, "t1").full
    (tmp_path / "state" / "lists.npz").write_bytes(b"garbage")
    assert ListState.load(tmp_path / "state") is None
