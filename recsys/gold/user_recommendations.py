"""gold/user_recommendations: for every user, the K best products they do not have yet, with a reason.

Signals per (user, item): content (the mean content vector of the user's items against the
item's), two-tower (user tower vs item tower), ALS (user factors vs item factors) and popularity.
Candidates come from the content index, the two-tower and ALS spaces and the popularity list;
each source already leaves out the user's own items. A user the models do not know (no ALS
factors, no tower vector) is served by the signals that do know them; a user with no usable
history at all gets the popular items, and the ``model`` column says so.

Incremental: given the previous table file and its list state, only the users whose list can have
changed are recomputed (``recsys.gold.list_refresh``: a user whose history or vectors moved, whose
candidates lost or changed a product, or whom a new or changed product now reaches); the other
lists are carried over with their own build_id, exactly as a full rebuild would compute them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.gold.list_files import CarriedLists, ListFileWriter
from recsys.gold.list_refresh import (ListSettings, ListsBuild, PreviousLists, RefreshPlan, SourceVectors, next_state,
                                      plan_refresh, refresh_buffer, settings_hash)
from recsys.gold.refresh_inputs import item_hashes, user_hashes
from recsys.gold.schemas import GOLD_TABLES, conform
from recsys.vectors import AlignedVectors
from recsys.recommend import (CandidateSource, Candidates, History, RankedProposals, VectorSignal,
                             candidates_with_proposals, rerank)
from recsys.recommend.reasons import user_reasons
from recsys.topk import SearchFn

log = logging.getLogger(__name__)

DEFAULT_USER_WEIGHTS: dict[str, float] = {"content": 0.5, "two_tower": 1.0, "als": 1.0, "popularity": 0.1}
LISTS_CODE_VERSION = "1"     # bump when candidate generation, scoring or reasons change: lists rebuild


@dataclass(frozen=True)
class UserRecommendationsSettings(ListSettings):
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_USER_WEIGHTS))
    users_per_block: int = 65_536     # users taken from search to table rows at once


@dataclass(frozen=True)
class UserSpace:
    """A model's user vectors (aligned to ``History.user_ids``) and item vectors (aligned to products)."""

    users: AlignedVectors
    items: AlignedVectors


def content_profiles(history: History, content: AlignedVectors) -> AlignedVectors:
    """Each user's mean content vector over their items (known vectors only), L2-normalized."""
    owned = history.owned
    membership = sp.csr_matrix((np.ones(len(owned.indices), dtype=np.float32), owned.indices, owned.indptr),
                               shape=(history.n_users, len(content.vectors)))
    known = content.known.astype(np.float32)
    sums = np.asarray(membership @ (content.vectors * known[:, None]), dtype=np.float32)
    counts = np.asarray(membership @ known).ravel()
    return AlignedVectors(sums, counts > 0).normalized()


def nearest_owned(history: History, users: np.ndarray, items: np.ndarray, space: AlignedVectors,
                  chunk_elements: int = 1 << 16) -> np.ndarray:
    """For each (user, item) row, the user's own item closest to ``item`` in ``space`` (-1 if none known).

    Users are taken in chunks of similar history length; each chunk is one batched matrix product
    (rows x history) over padded arrays, so every vector is gathered once per user, not once per pair.
    Among equally close own items the lowest position wins.
    """
    anchors = np.full(len(users), -1, dtype=np.int64)
    order = np.argsort(users, kind="stable")
    distinct, starts, counts = np.unique(users[order], return_index=True, return_counts=True)
    owned = history.owned
    lengths = np.diff(owned.indptr)[distinct]
    by_length = np.argsort(lengths, kind="stable")
    sorted_lengths = np.maximum(lengths[by_length], 1)
    done = 0
    while done < len(distinct):
        # The most users (shortest histories first) whose padded history block fits the budget.
        cost = np.arange(1, len(distinct) - done + 1) * sorted_lengths[done:]
        take = max(1, int(np.searchsorted(cost, chunk_elements, side="right")))
        chunk = by_length[done:done + take]
        width = int(sorted_lengths[done + len(chunk) - 1])
        height = int(counts[chunk].max())
        rows = np.full((len(chunk), height), -1, dtype=np.int64)          # indices into users/items
        for j, c in enumerate(chunk):
            rows[j, :counts[c]] = order[starts[c]:starts[c] + counts[c]]
        mine = owned.take(distinct[chunk])
        hist = np.full((len(chunk), width), -1, dtype=np.int64)
        hist_row = np.repeat(np.arange(len(chunk)), np.diff(mine.indptr))
        hist_col = np.arange(len(mine.indices)) - np.repeat(mine.indptr[:-1], np.diff(mine.indptr))
        hist[hist_row, hist_col] = mine.indices
        hist = np.where((hist >= 0) & space.known[hist.clip(0)], hist, -1)
        targets = np.where(rows >= 0, items[rows.clip(0)], -1)
        sims = np.matmul(space.vectors[targets.clip(0)], space.vectors[hist.clip(0)].transpose(0, 2, 1))
        sims = np.where(hist[:, None, :] >= 0, sims, -np.inf)
        best = sims.argmax(axis=2)
        found = np.take_along_axis(hist, best, axis=1)
        valid = (rows >= 0) & (targets >= 0) & space.known[targets.clip(0)] & np.isfinite(sims.max(axis=2))
        anchors[rows[valid]] = found[valid]
        done += len(chunk)
    return anchors


@dataclass(frozen=True)
class UserSignals:
    """What scores and proposes items for users: signals, the item spaces reasons are anchored in,
    and each candidate source (its search, and its exact form for ``list_refresh``)."""

    profiles: AlignedVectors               # content profile per user
    signals: list                          # recsys.recommend signals, content first (query index = user)
    spaces: dict[str, AlignedVectors]      # per vector signal, the item space its reasons are anchored in
    sources: dict[str, SourceVectors]              # per candidate source: query/item vectors and size
    searches: dict[str, tuple[SearchFn, np.ndarray]]   # per source: search and the vectors it is queried with


@dataclass(frozen=True)
class UserCandidates:
    """Users' candidate items and the signals that score them (what re-ranking mixes)."""

    candidates: np.ndarray                 # (queries, c) item positions, -1 padded; owned items never appear
    signals: list
    spaces: dict[str, AlignedVectors]


def user_signals(history: History, content: AlignedVectors, content_search: SearchFn, *,
                 tower: UserSpace | None = None, als: UserSpace | None = None,
                 config: UserRecommendationsSettings = UserRecommendationsSettings(),
                 all_signals: bool = False) -> UserSignals:
    """Signals and candidate sources: the content index, the two-tower and ALS spaces, popularity.

    ``all_signals`` keeps a signal even when its weight is 0 (weight tuning re-ranks one candidate set).
    """
    size = config.candidates_per_source
    profiles = content_profiles(history, content)
    signals: list = [VectorSignal("content", profiles.vectors, content.vectors, profiles.known, content.known)]
    spaces = {"content": content}
    sources = {"content": SourceVectors(profiles.vectors, content.vectors, size, profiles.known, content.known)}
    searches = {"content": (content_search, profiles.vectors)}
    for name, space in (("two_tower", tower), ("als", als)):
        if space is not None and (all_signals or config.weights.get(name, 0) > 0):
            signal = VectorSignal(name, space.users.vectors, space.items.vectors, space.users.known, space.items.known)
            signals.append(signal)
            spaces[name] = space.items
            sources[name] = SourceVectors(space.users.vectors, space.items.vectors, size, space.users.known,
                                          space.items.known)
            searches[name] = (signal.search(), space.users.vectors)
    popularity = history.popularity_signal()
    signals.append(popularity)
    sources["popularity"] = SourceVectors(np.ones((history.n_users, 1), np.float32), popularity.values[:, None],
                                          config.k)
    searches["popularity"] = (popularity.search(), np.zeros((history.n_users, 0), np.float32))
    return UserSignals(profiles, signals, spaces, sources, searches)


def candidates_for(history: History, prepared: UserSignals, queries: np.ndarray,
                   block_rows: int = UserRecommendationsSettings.block_rows, buffer: int = 0) -> Candidates:
    """Candidates of the users at ``queries`` (rows in that order) from every source, owned items left
    out; each source also ranks ``buffer`` items beyond its proposals (kept by the incremental refresh)."""
    sources = [CandidateSource(name, search, vectors[queries], prepared.sources[name].size,
                               prepared.sources[name].known_queries()[queries])
               for name, (search, vectors) in prepared.searches.items()]
    return candidates_with_proposals(sources, len(queries), history.owned.take(queries), block_rows=block_rows,
                                        buffer=buffer)


def user_candidates(history: History, content: AlignedVectors, content_search: SearchFn, *,
                    tower: UserSpace | None = None, als: UserSpace | None = None,
                    config: UserRecommendationsSettings = UserRecommendationsSettings(),
                    all_signals: bool = False) -> UserCandidates:
    """Every user's candidates from all sources, with the signals that score them."""
    prepared = user_signals(history, content, content_search, tower=tower, als=als, config=config,
                            all_signals=all_signals)
    candidates = candidates_for(history, prepared, np.arange(history.n_users), config.block_rows).positions
    return UserCandidates(candidates, prepared.signals, prepared.spaces)


def build_user_recommendations(products: pl.DataFrame, history: History, content: AlignedVectors,
                               content_search: SearchFn, *, tower: UserSpace | None = None,
                               als: UserSpace | None = None,
                               config: UserRecommendationsSettings = UserRecommendationsSettings(),
                               build_id: str, output: Path, previous: PreviousLists | None = None,
                               exact_search: bool = True) -> ListsBuild:
    """user_recommendations rows for every user of ``history`` (items already owned are excluded),
    written to the Parquet file ``output`` in table order (user, then rank) as they are built.

    With ``previous`` (and an exact ``content_search``) only the users whose list can have changed
    are recomputed; the others' rows are copied from the previous file. The returned state is what
    the next build needs. Users are taken ``config.users_per_block`` at a time (in user order) from
    search to written rows, so what a million users need at once is one block's rows and the list
    state, never the table (new or previous).
    """
    timings = {"plan": 0.0, "candidates": 0.0, "rerank": 0.0, "table": 0.0}
    started = time.perf_counter()
    prepared = user_signals(history, content, content_search, tower=tower, als=als, config=config)
    buffer = refresh_buffer(config.candidates_per_source)
    settings = settings_hash({"code": LISTS_CODE_VERSION, "k": config.k, "size": config.candidates_per_source,
                              "buffer": buffer, "weights": dict(config.weights), "sources": sorted(prepared.sources)})
    product_ids = products["product_id"]
    user_list, product_list = history.user_ids.tolist(), product_ids.to_list()
    item_hash = item_hashes(products, prepared.sources, history)
    user_hash = user_hashes(history, product_ids, item_hash, prepared.sources)
    plan = plan_refresh(previous.state if previous else None, settings, user_list, user_hash, product_list, item_hash,
                        prepared.sources, previous.digest if previous else None, exact_search)
    queries, searched_users = np.flatnonzero(plan.recompute), np.flatnonzero(plan.search)
    # Only the users whose proposals cannot tell their candidates any more are searched again; their
    # proposals (the next build's state) are filled block by block.
    shapes = candidates_for(history, prepared, searched_users[:0], config.block_rows, buffer).ranked
    searched = {name: RankedProposals.empty(len(searched_users), p.positions.shape[1]) for name, p in shapes.items()}
    user_ids = pl.Series(user_list, dtype=pl.String)
    schema = GOLD_TABLES["user_recommendations"]
    carried_ids = history.user_ids[~plan.recompute].tolist()
    carried = (CarriedLists(previous.file, "user_id", carried_ids, schema)
               if previous is not None and carried_ids else None)
    writer = ListFileWriter(output, schema)
    timings["plan"] = time.perf_counter() - started
    try:
        for lo in range(0, history.n_users, config.users_per_block):
            hi = min(lo + config.users_per_block, history.n_users)
            block = queries[np.searchsorted(queries, lo):np.searchsorted(queries, hi)]
            fresh = (_recomputed_rows(block, history, prepared, plan, config, buffer, searched, searched_users,
                                      products, user_ids, build_id, timings)
                     if len(block) else pl.DataFrame(schema=schema.schema))
            clock = time.perf_counter()
            kept = carried.before(user_list[hi] if hi < history.n_users else None) if carried else None
            writer.write(_in_user_order(fresh, kept))
            timings["table"] += time.perf_counter() - clock
            log.info("user_recommendations: %d of %d users written (%d recomputed so far)", hi, history.n_users,
                     np.searchsorted(queries, hi))
    finally:
        writer.close()
    clock = time.perf_counter()
    state = next_state(previous.state if previous else None, plan, settings, user_list, user_hash, product_list,
                       item_hash, prepared.sources, searched)
    timings["table"] += time.perf_counter() - clock
    log.info("user_recommendations: %d rows for %d users (%d recomputed, %d carried over) in %.1fs", writer.rows,
             history.n_users, len(queries), len(carried_ids), time.perf_counter() - started)
    return ListsBuild(table=None, seconds={k: round(v, 3) for k, v in timings.items()}, state=state, plan=plan,
                      path=Path(output))


def _recomputed_rows(block: np.ndarray, history: History, prepared: UserSignals, plan: RefreshPlan,
                     config: UserRecommendationsSettings, buffer: int,
                     searched: dict[str, RankedProposals], searched_users: np.ndarray, products: pl.DataFrame,
                     user_ids: pl.Series, build_id: str, timings: dict[str, float]) -> pl.DataFrame:
    """The rows of the recomputed users at ``block`` (positions, sorted): searched again where the
    plan says so (their proposals go to ``searched``), re-ranked, with reasons."""
    clock = time.perf_counter()
    block_searched = block[plan.search[block]]
    found = candidates_for(history, prepared, block_searched, config.block_rows, buffer)
    at = np.searchsorted(searched_users, block_searched)
    for name, proposals in found.ranked.items():
        searched[name].put(at, proposals)
    candidates = plan.recomputed_candidates(found.positions, block)
    timings["candidates"] += time.perf_counter() - clock
    clock = time.perf_counter()
    ranked = rerank(candidates, prepared.signals, config.weights, config.k, query_rows=block)
    timings["rerank"] += time.perf_counter() - clock
    clock = time.perf_counter()
    rows = _list_rows(ranked.rows(), block, history, prepared.spaces, products, user_ids, build_id)
    timings["table"] += time.perf_counter() - clock
    return rows


def _in_user_order(fresh: pl.DataFrame, kept: pl.DataFrame | None) -> pl.DataFrame:
    """One block's rows: its recomputed lists and the carried-over ones between them (each in user
    order, users disjoint), merged in user order, each list keeping its rank order."""
    if kept is None or kept.is_empty():
        return fresh
    if fresh.is_empty():
        return kept
    schema = GOLD_TABLES["user_recommendations"]
    return pl.concat([conform(kept, schema, in_order=True), conform(fresh, schema, in_order=True)]
                     ).sort("user_id", maintain_order=True)


def _list_rows(rows: pl.DataFrame, users: np.ndarray, history: History, spaces: Mapping[str, AlignedVectors],
               products: pl.DataFrame, user_ids: pl.Series, build_id: str) -> pl.DataFrame:
    """Table rows of re-ranked lists (``rows``: ``Ranked.rows()`` of the queries ``users``), each
    with its reason: the user's own item closest to it in the space of the signal that chose it."""
    users, items, signal_of = users[rows["query"].to_numpy()], rows["item"].to_numpy(), rows["signal"].to_numpy()
    anchor = np.full(rows.height, -1, dtype=np.int64)
    for name, space in spaces.items():
        mine = signal_of == name
        if mine.any():
            anchor[mine] = nearest_owned(history, users[mine], items[mine], space)
    bought = np.zeros(rows.height, dtype=bool)
    is_als = (signal_of == "als") & (anchor >= 0)
    if is_als.any():
        bought[is_als] = history.bought_together(anchor[is_als], items[is_als])
    reason_rows = pl.DataFrame({"item": items, "anchor": anchor, "signal": rows["signal"], "bought_together": bought}
                               ).with_columns(anchor=pl.when(pl.col("anchor") >= 0).then(pl.col("anchor")))
    return pl.DataFrame({
        "user_id": user_ids.gather(users),
        "rank": rows["rank"],
        "product_id": products["product_id"].gather(items),
        "score": rows["score"],
        "reason": user_reasons(reason_rows, products),
        "model": rows["model"],
    }).with_columns(build_id=pl.lit(build_id))
