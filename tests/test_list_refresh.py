"""Incremental top-K lists: recomputing only the planned queries gives exactly the full rebuild."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.gold.list_refresh import ListState, Space, known_rows, next_state, plan_refresh, row_hashes, settings_hash

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


def source_thresholds(candidates, spaces, queries=None):
    """The thresholds by their definition: per source, the ``size``-th best score among each query's
    candidates (-inf if fewer). The builders read them off their searches instead."""
    queries = np.arange(len(candidates)) if queries is None else queries
    out = {}
    for name, space in spaces.items():
        valid = (candidates >= 0) & space.known_items()[candidates.clip(0)]
        sims = np.einsum("qd,qcd->qc", space.queries[queries], space.items[candidates.clip(0)])
        sims = np.where(valid, sims, -np.inf)
        kth = (-np.sort(-sims, axis=1))[:, space.size - 1] if candidates.shape[1] >= space.size else -np.inf
        out[name] = np.where(space.known_queries()[queries], kth, -np.inf).astype(np.float32)
    return out


def _spaces(catalog):
    return {"a": Space.item_to_item(catalog["a"], SIZE), "b": Space.item_to_item(catalog["b"], SIZE)}


def _hashes(catalog):
    return row_hashes(pl.DataFrame({"product_id": catalog["ids"]}),
                      {name: known_rows(catalog[name], None) for name in ("a", "b")})


def _plan(state, catalog, settings=None, digest="t1"):
    hashes = _hashes(catalog)
    return plan_refresh(state, settings or settings_hash({"k": K}), catalog["ids"], hashes, catalog["ids"], hashes,
                        _spaces(catalog), digest)


def _state(catalog, candidates, digest="t1"):
    hashes = _hashes(catalog)
    return ListState(settings_hash({"k": K}), catalog["ids"], hashes, catalog["ids"], hashes,
                     candidates.astype(np.int32), source_thresholds(candidates, _spaces(catalog)), digest)


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

    plan = _plan(state, after)
    assert not plan.full and plan.counts["new_items"] == 2 and plan.counts["changed_items"] == 1
    assert plan.counts["removed_items"] == 2 and plan.counts["removed_queries"] == 2
    assert 5 <= plan.counts["recomputed"] < m // 4, plan.counts

    recompute = np.flatnonzero(plan.recompute)
    _, fresh = _lists(after, recompute)
    carried = {pid: lists_before[pid] for i, pid in enumerate(after["ids"]) if not plan.recompute[i]}
    _, full = _lists(after, np.arange(m))
    assert {**carried, **fresh} == full

    # The next state carries the untouched candidates over, remapped: it is the full rebuild's state,
    # and a second refresh on the same data recomputes nothing.
    new_candidates, _ = _lists(after, recompute)
    hashes = _hashes(after)
    state_after = next_state(state, plan, settings_hash({"k": K}), after["ids"], hashes, after["ids"], hashes,
                             _spaces(after), new_candidates, source_thresholds(new_candidates, _spaces(after), recompute))
    full_candidates, _ = _lists(after, np.arange(m))
    assert [set(r[r >= 0]) for r in state_after.candidates] == [set(r[r >= 0]) for r in full_candidates]
    full_thresholds = source_thresholds(full_candidates, _spaces(after))
    for name in ("a", "b"):
        np.testing.assert_allclose(state_after.thresholds[name], full_thresholds[name], rtol=1e-6)
    state_after.table_digest = "t2"
    assert _plan(state_after, after, digest="t2").counts["recomputed"] == 0


def test_new_settings_or_a_foreign_table_rebuild_everything(tmp_path):
    rng = np.random.default_rng(1)
    catalog = _catalog([f"p{i}" for i in range(30)], rng.normal(size=(30, 3)), rng.normal(size=(30, 3)))
    candidates, _ = _lists(catalog, np.arange(30))
    state = _state(catalog, candidates)
    state.save(tmp_path / "state")
    loaded = ListState.load(tmp_path / "state")
    assert loaded.item_ids == catalog["ids"] and np.array_equal(loaded.candidates, state.candidates)
    assert loaded.query_ids == catalog["ids"]
    assert _plan(loaded, catalog).counts["recomputed"] == 0
    assert _plan(loaded, catalog, settings=settings_hash({"k": K + 1})).full
    assert _plan(loaded, catalog, digest="other").full
    assert _plan(None, catalog).full
    (tmp_path / "state" / "lists.npz").write_bytes(b"garbage")
    assert ListState.load(tmp_path / "state") is None


def _user_lists(users, items, queries):
    """Users x items: a taste source and a popularity source (owned items excluded), re-ranked."""
    taste, pop = users["taste"][queries] @ items["vec"].T, np.tile(items["pop"], (len(queries), 1))
    out, rows = {}, []
    for r, u in enumerate(queries):
        owned = [items["ids"].index(i) for i in users["owned"][u] if i in items["ids"]]
        taste[r, owned] = pop[r, owned] = -np.inf
        c = np.union1d(np.argsort(-taste[r], kind="stable")[:SIZE], np.argsort(-pop[r], kind="stable")[:3])
        rows.append(c)
        score = taste[r, c] + 0.1 * pop[r, c]
        out[users["ids"][u]] = [items["ids"][c[i]] for i in np.lexsort((c, -score))[:K]]
    width = max(len(c) for c in rows)
    candidates = np.full((len(queries), width), -1, dtype=np.int64)
    for r, c in enumerate(rows):
        candidates[r, :len(c)] = c
    return candidates, out


def _user_inputs(users, items):
    spaces = {"taste": Space(users["taste"], items["vec"], SIZE),
              "popularity": Space(np.ones((len(users["ids"]), 1), np.float32), items["pop"][:, None], 3)}
    q_hash = row_hashes(pl.DataFrame({"owned": [sorted(o) for o in users["owned"]]}), {"taste": users["taste"]})
    i_hash = row_hashes(pl.DataFrame({"id": items["ids"]}), {"vec": items["vec"], "pop": items["pop"]})
    return spaces, q_hash, i_hash


def test_user_lists_refresh_exactly_with_owned_items_and_a_popularity_source():
    rng = np.random.default_rng(3)
    n_users, n_items = 120, 300
    users = {"ids": [f"u{i}" for i in range(n_users)], "taste": _unit(rng.normal(size=(n_users, 5))),
             "owned": [set(f"i{j}" for j in rng.choice(n_items, 3, replace=False)) for _ in range(n_users)]}
    items = {"ids": [f"i{j}" for j in range(n_items)], "vec": _unit(rng.normal(size=(n_items, 5))),
             "pop": rng.random(n_items).astype(np.float32)}
    candidates, before_lists = _user_lists(users, items, np.arange(n_users))
    spaces, q_hash, i_hash = _user_inputs(users, items)
    state = ListState("s", users["ids"], q_hash, items["ids"], i_hash, candidates.astype(np.int32),
                      source_thresholds(candidates, spaces), "t")

    keep = [j for j in range(n_items) if j not in (5, 6)]                       # two items removed
    items = {"ids": [items["ids"][j] for j in keep] + ["new"], "vec": np.vstack([items["vec"][keep], _unit(
        rng.normal(size=(1, 5)))]), "pop": np.append(items["pop"][keep], 0.99).astype(np.float32)}
    items["pop"][10] = 0.01                                                     # one item's popularity moves
    users["owned"][7] = users["owned"][7] | {"i42"}                              # one user buys something
    spaces, q_hash, i_hash = _user_inputs(users, items)
    plan = plan_refresh(state, "s", users["ids"], q_hash, items["ids"], i_hash, spaces, "t")
    assert plan.counts["changed_queries"] == 1 and plan.counts["removed_items"] == 2
    assert plan.recompute[7] and 0 < plan.counts["recomputed"] < n_users
    recompute = np.flatnonzero(plan.recompute)
    _, fresh = _user_lists(users, items, recompute)
    _, full = _user_lists(users, items, np.arange(n_users))
    carried = {u: before_lists[u] for i, u in enumerate(users["ids"]) if not plan.recompute[i]}
    assert {**carried, **fresh} == full
