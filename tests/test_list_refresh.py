"""Incremental top-K lists: refreshing only the planned queries gives exactly the full rebuild, and
most of them are re-ranked from the buffered proposals without a new search."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.gold.list_refresh import ListState, SourceVectors, known_rows, next_state, plan_refresh, row_hashes, settings_hash
from recsys.recommend import RankedProposals, unique_per_row

SIZE, K, BUFFER = 8, 5, 3


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _catalog(ids, a, b):
    return {"ids": list(ids), "a": _unit(a), "b": _unit(b)}


def _ranked(sims: np.ndarray, size: int) -> RankedProposals:
    """Each row's ``size + BUFFER`` best columns by (score desc, position asc); -inf scores never listed."""
    order = np.lexsort((np.broadcast_to(np.arange(sims.shape[1]), sims.shape), -sims), axis=1)[:, :size + BUFFER]
    scores = np.take_along_axis(sims, order, axis=1).astype(np.float32)
    positions = np.where(np.isneginf(scores), -1, order)
    return RankedProposals(positions, scores, scores[:, -1].copy())


def _searched_scores(queries: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The toy search's scores: inner products as another kernel computes them, here rounded down
    to a 2**-20 grid, within float noise of (but not equal to) the refresh's own matrix product."""
    return (np.floor((queries @ items.T).astype(np.float64) * 2**20) / 2**20).astype(np.float32)


def _search(catalog, queries):
    """The toy builder's candidate search: two item-to-item sources, SIZE proposals each, self excluded."""
    ranked = {}
    for name in ("a", "b"):
        sims = _searched_scores(catalog[name][queries], catalog[name])
        sims[np.arange(len(queries)), queries] = -np.inf
        ranked[name] = _ranked(sims, SIZE)
    return ranked, unique_per_row(np.concatenate([r.positions[:, :SIZE] for r in ranked.values()], axis=1))


def _rank(catalog, q, candidates):
    """The toy re-ranker: its scores depend on the whole candidate set (min-max scaling)."""
    c = candidates[candidates >= 0]
    score = catalog["a"][q] @ catalog["a"][c].T + 0.5 * (catalog["b"][q] @ catalog["b"][c].T)
    score = (score - score.min()) / (score.max() - score.min())
    return [catalog["ids"][c[i]] for i in np.lexsort((c, -score))[:K]]


def _full(catalog):
    n = len(catalog["ids"])
    ranked, candidates = _search(catalog, np.arange(n))
    return ranked, {catalog["ids"][q]: _rank(catalog, q, candidates[q]) for q in range(n)}


def _spaces(catalog):
    return {"a": SourceVectors.item_to_item(catalog["a"], SIZE), "b": SourceVectors.item_to_item(catalog["b"], SIZE)}


def _hashes(catalog):
    return row_hashes(pl.DataFrame({"product_id": catalog["ids"]}),
                      {name: known_rows(catalog[name], None) for name in ("a", "b")})


def _plan(state, catalog, settings=None, digest="t1"):
    hashes = _hashes(catalog)
    return plan_refresh(state, settings or settings_hash({"k": K}), catalog["ids"], hashes, catalog["ids"], hashes,
                        _spaces(catalog), digest)


def _state(catalog, ranked, digest="t1"):
    hashes = _hashes(catalog)
    return ListState(settings_hash({"k": K}), catalog["ids"], hashes, catalog["ids"], hashes, ranked, digest)


def _refresh(plan, catalog, before_lists):
    """What a builder does with a plan: search the planned queries, re-rank the recomputed ones from
    their candidates, carry the others over."""
    searched, candidates = _search(catalog, np.flatnonzero(plan.search))
    recomputed = np.flatnonzero(plan.recompute)
    rows = plan.recomputed_candidates(candidates)
    fresh = {catalog["ids"][q]: _rank(catalog, q, rows[i]) for i, q in enumerate(recomputed)}
    carried = {pid: before_lists[pid] for i, pid in enumerate(catalog["ids"]) if not plan.recompute[i]}
    return {**carried, **fresh}, searched


def _assert_same_proposals(state: ListState, full: dict[str, RankedProposals], catalog):
    """The refreshed state holds every query's exact candidates per source, and a frontier that no
    item left out of its proposals exceeds."""
    for name, truth in full.items():
        kept = state.ranked[name]
        assert [set(r[r >= 0]) for r in kept.positions[:, :SIZE]] == [set(r[r >= 0]) for r in truth.positions[:, :SIZE]]
        sims = _searched_scores(catalog[name], catalog[name])
        np.fill_diagonal(sims, -np.inf)
        listed = np.zeros_like(sims, dtype=bool)
        rows = np.repeat(np.arange(len(sims)), kept.positions.shape[1])
        valid = kept.positions.ravel() >= 0
        listed[rows[valid], kept.positions.ravel()[valid]] = True
        left_out = np.where(listed, -np.inf, sims).max(axis=1)
        assert (left_out <= kept.frontier + 1e-6).all()


def _built(seed: int, n: int, dims: tuple[int, int]):
    """A random catalog of ``n`` products, the lists of its full build and the state that build leaves."""
    rng = np.random.default_rng(seed)
    raw_a, raw_b = rng.normal(size=(n, dims[0])), rng.normal(size=(n, dims[1]))
    before = _catalog([f"p{i:03d}" for i in range(n)], raw_a, raw_b)
    ranked, lists = _full(before)
    return rng, (raw_a, raw_b), before, lists, _state(before, ranked)


def _next(state, plan, after, searched) -> ListState:
    hashes = _hashes(after)
    return next_state(state, plan, settings_hash({"k": K}), after["ids"], hashes, after["ids"], hashes,
                      _spaces(after), searched)


def _edited(before, raws, rng, removed, changed, new):
    raw_a, raw_b = raws
    keep = [i for i in range(len(before["ids"])) if i not in removed]
    a, b = raw_a[keep].copy(), raw_b[keep].copy()
    for i in changed:
        a[keep.index(i)] = rng.normal(size=a.shape[1])
    ids = [before["ids"][i] for i in keep] + [f"new{j}" for j in range(new)]
    return _catalog(ids, np.vstack([a, rng.normal(size=(new, a.shape[1]))]), np.vstack([b, rng.normal(size=(new, b.shape[1]))]))


def test_refreshing_the_planned_lists_equals_a_full_rebuild():
    rng, raws, before, lists_before, state = _built(seed=0, n=400, dims=(6, 4))
    after = _edited(before, raws, rng, removed=(10, 200), changed=(50,), new=2)    # 1% change
    plan = _plan(state, after)
    assert not plan.full and plan.counts["new_items"] == 2 and plan.counts["changed_items"] == 1
    assert plan.counts["removed_items"] == 2 and plan.counts["removed_queries"] == 2
    assert 5 <= plan.counts["recomputed"] < len(after["ids"]) // 4, plan.counts
    # Most recomputed lists are re-ranked from their buffered proposals: only the changed and new
    # products themselves (and lists whose buffer could not decide) are searched again.
    assert plan.counts["reranked"] > plan.counts["searched"] >= 3, plan.counts

    refreshed, searched = _refresh(plan, after, lists_before)
    full_ranked, full_lists = _full(after)
    assert refreshed == full_lists

    # The next state holds the full rebuild's candidates, and a second refresh on the same data recomputes nothing.
    state_after = _next(state, plan, after, searched)
    _assert_same_proposals(state_after, full_ranked, after)
    state_after.table_digest = "t2"
    assert _plan(state_after, after, digest="t2").counts["recomputed"] == 0


def test_a_list_whose_buffer_runs_out_is_searched_again_and_still_exact():
    rng, raws, before, lists_before, state = _built(seed=2, n=200, dims=(5, 3))
    gone = tuple(int(i) for i in state.ranked["a"].positions[0, :BUFFER + 1])      # more than p000's buffer holds
    after = _edited(before, raws, rng, removed=gone, changed=(), new=0)
    plan = _plan(state, after)
    assert plan.search[0] and plan.recompute[0]
    refreshed, searched = _refresh(plan, after, lists_before)
    full_ranked, full_lists = _full(after)
    assert refreshed == full_lists
    _assert_same_proposals(_next(state, plan, after, searched), full_ranked, after)


def test_a_mover_tied_with_a_buffered_proposal_stays_exact_when_the_cut_reaches_them():
    # Night 1: p000's source-a proposal just past its candidates gets a twin (a product relisted with
    # the same vector) at a later position. The refresh scores the twin with its own matrix product,
    # the search scored the original: the two differ by float noise, and the twin may rank first.
    # Night 2: one of p000's candidates is removed, so the cut falls between the two: the search
    # keeps the original (equal scores, lower position), and so must the refresh.
    rng, raws, before, lists_before, state = _built(seed=4, n=200, dims=(5, 3))
    first_out, last_in = (int(i) for i in state.ranked["a"].positions[0, [SIZE, 0]])
    twin = max(i for i in range(200) if i > first_out and i not in state.ranked["a"].positions[0])
    raw_a, raw_b = (r.copy() for r in raws)
    raw_a[twin] = raw_a[first_out]
    night_1 = _catalog(before["ids"], raw_a, raw_b)
    plan = _plan(state, night_1)
    lists_1, searched = _refresh(plan, night_1, lists_before)
    assert lists_1 == _full(night_1)[1]
    state_1 = _next(state, plan, night_1, searched)
    state_1.table_digest = "t2"

    keep = [i for i in range(200) if i != last_in]
    night_2 = _catalog([before["ids"][i] for i in keep], raw_a[keep], raw_b[keep])
    plan = _plan(state_1, night_2, digest="t2")
    lists_2, searched = _refresh(plan, night_2, lists_1)
    full_ranked, full_lists = _full(night_2)
    assert lists_2 == full_lists
    _assert_same_proposals(_next(state_1, plan, night_2, searched), full_ranked, night_2)


def test_new_settings_or_a_foreign_table_rebuild_everything(tmp_path):
    rng = np.random.default_rng(1)
    catalog = _catalog([f"p{i}" for i in range(30)], rng.normal(size=(30, 3)), rng.normal(size=(30, 3)))
    ranked, _ = _full(catalog)
    state = _state(catalog, ranked)
    state.save(tmp_path / "state")
    loaded = ListState.load(tmp_path / "state")
    assert loaded.item_ids == catalog["ids"] and loaded.query_ids == catalog["ids"]
    for name in ranked:
        np.testing.assert_array_equal(loaded.ranked[name].positions, ranked[name].positions)
        np.testing.assert_array_equal(loaded.ranked[name].scores, ranked[name].scores)
        np.testing.assert_array_equal(loaded.ranked[name].frontier, ranked[name].frontier)
    assert _plan(loaded, catalog).counts["recomputed"] == 0
    assert _plan(loaded, catalog, settings=settings_hash({"k": K + 1})).full
    assert _plan(loaded, catalog, digest="other").full
    assert _plan(None, catalog).full
    (tmp_path / "state" / "lists.npz").write_bytes(b"garbage")
    assert ListState.load(tmp_path / "state") is None


def _user_search(users, items, queries):
    """Users x items: a taste source (SIZE) and a popularity source (3), owned items excluded."""
    taste = users["taste"][queries] @ items["vec"].T
    pop = np.tile(items["pop"], (len(queries), 1)).astype(np.float64)
    for r, u in enumerate(queries):
        owned = [items["ids"].index(i) for i in users["owned"][u] if i in items["ids"]]
        taste[r, owned] = pop[r, owned] = -np.inf
    ranked = {"taste": _ranked(taste, SIZE), "popularity": _ranked(pop, 3)}
    return ranked, unique_per_row(np.concatenate([ranked["taste"].positions[:, :SIZE],
                                                  ranked["popularity"].positions[:, :3]], axis=1))


def _user_rank(users, items, u, candidates):
    c = candidates[candidates >= 0]
    score = users["taste"][u] @ items["vec"][c].T + 0.1 * items["pop"][c]
    return [items["ids"][c[i]] for i in np.lexsort((c, -score))[:K]]


def _user_inputs(users, items):
    spaces = {"taste": SourceVectors(users["taste"], items["vec"], SIZE),
              "popularity": SourceVectors(np.ones((len(users["ids"]), 1), np.float32), items["pop"][:, None], 3)}
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
    everyone = np.arange(n_users)
    ranked, candidates = _user_search(users, items, everyone)
    before_lists = {users["ids"][u]: _user_rank(users, items, u, candidates[u]) for u in everyone}
    spaces, q_hash, i_hash = _user_inputs(users, items)
    state = ListState("s", users["ids"], q_hash, items["ids"], i_hash, ranked, "t")

    top_popular = int(np.argmax(items["pop"]))
    keep = [j for j in range(n_items) if j not in (5, 6, top_popular)]       # three items removed, one the most popular
    items = {"ids": [items["ids"][j] for j in keep] + ["new"], "vec": np.vstack([items["vec"][keep], _unit(
        rng.normal(size=(1, 5)))]), "pop": np.append(items["pop"][keep], 0.5).astype(np.float32)}
    items["pop"][10] = 0.01                                                     # one item's popularity moves
    users["owned"][7] = users["owned"][7] | {"i42"}                              # one user buys something
    spaces, q_hash, i_hash = _user_inputs(users, items)
    plan = plan_refresh(state, "s", users["ids"], q_hash, items["ids"], i_hash, spaces, "t")
    assert plan.counts["changed_queries"] == 1 and plan.counts["removed_items"] == 3
    assert plan.search[7] and plan.counts["reranked"] > 0
    # Every user lost the most popular item: all re-ranked, only the changed user searched again.
    assert plan.recompute.all() and plan.counts["searched"] < n_users // 4, plan.counts
    searched_ranked, searched_candidates = _user_search(users, items, np.flatnonzero(plan.search))
    rows = plan.recomputed_candidates(searched_candidates)
    fresh = {users["ids"][u]: _user_rank(users, items, u, rows[i]) for i, u in enumerate(np.flatnonzero(plan.recompute))}
    _, full_candidates = _user_search(users, items, everyone)
    full = {users["ids"][u]: _user_rank(users, items, u, full_candidates[u]) for u in everyone}
    carried = {u: before_lists[u] for i, u in enumerate(users["ids"]) if not plan.recompute[i]}
    assert {**carried, **fresh} == full


def test_user_hashes_are_each_users_sorted_owned_items_whatever_their_order_or_alphabet():
    """A user's hash covers the sorted ``id@item_hash`` of what they own (Python's code point order), so
    the same history hashes the same in every build; users who own nothing known hash too."""
    from recsys.gold.refresh_inputs import user_hashes
    from recsys.index import IdMap
    from recsys.recommend import build_history

    rng = np.random.default_rng(3)
    ids = [f"p{i}" if i % 3 else f"ü{i}é✓" for i in range(60)]
    rows = pl.DataFrame({"user_id": [f"u{u}" for u in rng.integers(0, 40, 400)],
                         "product_id": [ids[i] for i in rng.integers(0, 60, 400)], "event": "click"})
    users = sorted(set(rows["user_id"].to_list()) | {"a_nobody", "z_nobody"})
    item_hash = [f"h{rng.integers(0, 5)}" for _ in ids]
    history = build_history(rows, IdMap(ids), users=users)
    hashes = user_hashes(history, pl.Series(ids), item_hash, {})

    owned = history.owned
    tagged = [f"{p}@{h}" for p, h in zip(ids, item_hash)]
    expected = row_hashes(pl.DataFrame(
        {"user_id": users, "owned": [sorted(tagged[i] for i in owned.indices[owned.indptr[u]:owned.indptr[u + 1]])
                                     for u in range(len(users))]},
        schema={"user_id": pl.String, "owned": pl.List(pl.String)}), {})
    assert hashes == expected
    reordered = build_history(rows.reverse(), IdMap(ids), users=users)
    assert user_hashes(reordered, pl.Series(ids), item_hash, {}) == hashes
    assert len(set(hashes)) == len(users)


def test_movers_are_matched_to_queries_block_by_block_with_the_same_hits(monkeypatch):
    from recsys.gold import list_refresh

    rng = np.random.default_rng(5)
    queries, items = rng.normal(size=(50, 8)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32)
    space = SourceVectors(queries, items, 5)
    rows, movers = np.arange(50), np.array([3, 7, 11, 19, 23, 31])
    own, frontier = np.full(50, 7), rng.normal(size=50).astype(np.float32)
    whole = list_refresh._movers_reaching(space, rows, movers, own, frontier)
    monkeypatch.setattr(list_refresh, "QUERIES_PER_BLOCK", 7)
    monkeypatch.setattr(list_refresh, "MOVERS_PER_BLOCK", 4)
    blocked = list_refresh._movers_reaching(space, rows, movers, own, frontier)
    key = lambda hits: sorted(zip(hits[0].tolist(), hits[1].tolist()))     # noqa: E731
    assert key(blocked) == key(whole) and len(whole[0]) > 0
    assert 7 not in set(blocked[1].tolist())                              # a query's own item never comes back


def test_refreshing_touched_lists_a_few_at_a_time_is_still_exact(monkeypatch):
    from recsys.gold import list_refresh

    monkeypatch.setattr(list_refresh, "QUERIES_PER_BLOCK", 3)
    test_refreshing_the_planned_lists_equals_a_full_rebuild()
    test_a_list_whose_buffer_runs_out_is_searched_again_and_still_exact()
    test_a_mover_tied_with_a_buffered_proposal_stays_exact_when_the_cut_reaches_them()
