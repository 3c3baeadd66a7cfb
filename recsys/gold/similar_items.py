"""gold/similar_items: for every product, the K most similar other products, with a reason.

Candidates: the FAISS index over content vectors (always), plus the nearest items in two-tower
space and in ALS item-factor space where those models know the item. Re-ranking mixes content
similarity, two-tower similarity, ALS similarity (all cosines) and popularity
(``recsys.recommend.hybrid``). A product never lists itself.

Incremental: given the previous table and its list state, only the products whose list can have
changed are recomputed (``recsys.gold.list_refresh``); the others are carried over with their
build_id, exactly as a full rebuild would compute them (with an exact content index).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from recsys.gold.list_refresh import (ListSettings, ListsBuild, PreviousLists, SourceVectors, merge_lists, next_state,
                                      plan_refresh, refresh_buffer, settings_hash)
from recsys.gold.refresh_inputs import item_hashes
from recsys.gold.schemas import GOLD_TABLES, conform
from recsys.vectors import AlignedVectors
from recsys.recommend import (CandidateSource, History, RankedProposals, VectorSignal, candidates_with_proposals,
                              rerank)
from recsys.recommend.reasons import similar_item_reasons
from recsys.topk import Exclusions, SearchFn

log = logging.getLogger(__name__)

DEFAULT_SIMILAR_WEIGHTS: dict[str, float] = {"content": 1.0, "two_tower": 0.3, "als": 0.3, "popularity": 0.05}
LISTS_CODE_VERSION = "1"     # bump when candidate generation, scoring or reasons change: lists rebuild


@dataclass(frozen=True)
class SimilarItemsSettings(ListSettings):
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SIMILAR_WEIGHTS))


@dataclass(frozen=True)
class SimilarCandidates:
    """Candidate items for some query products and the signals that score them (what re-ranking mixes)."""

    queries: np.ndarray        # (q,) product positions the candidate rows are for
    candidates: np.ndarray     # (q, c) item positions, -1 padded; a query's own item never appears
    signals: list              # recsys.recommend signals, content first; their query index is a product position
    ranked: dict[str, RankedProposals]    # per candidate source, its proposals and ``buffer`` more, ranked


def similar_candidates(content: AlignedVectors, content_search: SearchFn, *, tower: AlignedVectors | None = None,
                       als: AlignedVectors | None = None, history: History | None = None,
                       config: SimilarItemsSettings = SimilarItemsSettings(), queries: np.ndarray | None = None,
                       all_signals: bool = False, buffer: int = 0) -> SimilarCandidates:
    """Candidates from the content search and the two-tower and ALS item spaces, for ``queries``
    (product positions; default every product), with the content, two-tower, ALS and popularity signals.

    ``all_signals`` keeps a signal even when its weight is 0 (weight tuning re-ranks one candidate set);
    ``buffer``: items each source ranks beyond its proposals (kept by the incremental refresh).
    """
    queries = np.arange(len(content.vectors)) if queries is None else np.asarray(queries, dtype=np.int64)
    signals: list = []
    sources = []
    for name, space in candidate_spaces(content, tower, als, config, all_signals).items():
        signal = VectorSignal(name, space.items, space.items, space.item_known, space.item_known)
        signals.append(signal)
        search = content_search if name == "content" else signal.search()
        sources.append(CandidateSource(name, search, space.queries[queries], space.size,
                                       space.known_queries()[queries]))
    if history is not None:
        signals.append(history.popularity_signal())
    own = Exclusions.from_pairs(np.arange(len(queries)), queries, len(queries))
    found = candidates_with_proposals(sources, len(queries), own, block_rows=config.block_rows, buffer=buffer)
    return SimilarCandidates(queries, found.positions, signals, found.ranked)


def candidate_spaces(content: AlignedVectors, tower: AlignedVectors | None, als: AlignedVectors | None,
                     config: SimilarItemsSettings, all_signals: bool = False) -> dict[str, SourceVectors]:
    """The candidate sources: the content vectors (searched through the index), and the two-tower and
    ALS item spaces (unit rows) whose weight is not 0 (all of them with ``all_signals``)."""
    size = config.candidates_per_source
    spaces = {"content": SourceVectors.item_to_item(content.vectors, size, content.known)}
    for name, space in (("two_tower", tower), ("als", als)):
        if space is not None and (all_signals or config.weights.get(name, 0) > 0):
            unit = space.normalized()
            spaces[name] = SourceVectors.item_to_item(unit.vectors, size, unit.known)
    return spaces


def build_similar_items(products: pl.DataFrame, content: AlignedVectors, content_search: SearchFn, *,
                        tower: AlignedVectors | None = None, als: AlignedVectors | None = None,
                        history: History | None = None, config: SimilarItemsSettings = SimilarItemsSettings(),
                        build_id: str, previous: PreviousLists | None = None, exact_search: bool = True) -> ListsBuild:
    """similar_items rows for ``products`` (gold/products rows; every vector is aligned to this order).

    ``content_search`` returns positions in this order (an ``ItemIndex`` search remapped, or
    ``recsys.topk.exact_search`` over ``content.vectors``). With ``previous`` (and an exact search)
    only the products whose list can have changed are recomputed.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    n = products.height
    spaces = candidate_spaces(content, tower, als, config)
    buffer = refresh_buffer(config.candidates_per_source)
    settings = settings_hash({"code": LISTS_CODE_VERSION, "k": config.k, "size": config.candidates_per_source,
                              "buffer": buffer, "weights": dict(config.weights), "sources": sorted(spaces),
                              "popularity": history is not None})
    ids = products["product_id"]
    id_list = ids.to_list()
    hashes = item_hashes(products, spaces, history)
    plan = plan_refresh(previous.state if previous else None, settings, id_list, hashes, id_list, hashes, spaces,
                        previous.digest if previous else None, exact_search)
    queries = np.flatnonzero(plan.recompute)
    timings["plan"] = time.perf_counter() - started
    # Only the queries whose proposals cannot tell their candidates any more are searched again.
    prepared = similar_candidates(content, content_search, tower=tower, als=als, history=history, config=config,
                                  queries=np.flatnonzero(plan.search), buffer=buffer)
    timings["candidates"] = time.perf_counter() - started - timings["plan"]
    ranked = rerank(plan.recomputed_candidates(prepared.candidates), prepared.signals, config.weights, config.k,
                    query_rows=queries)
    timings["rerank"] = time.perf_counter() - started - timings["plan"] - timings["candidates"]
    rows = ranked.rows()
    rows = rows.with_columns(query=pl.Series("query", queries[rows["query"].to_numpy()], dtype=pl.Int64))
    is_als = (rows["signal"] == "als").to_numpy()
    bought = np.zeros(rows.height, dtype=bool)
    if history is not None and is_als.any():
        bought[is_als] = history.bought_together(rows["query"].to_numpy()[is_als], rows["item"].to_numpy()[is_als])
    rows = rows.with_columns(bought_together=pl.Series(bought))
    table = pl.DataFrame({
        "product_id": ids.gather(rows["query"]),
        "rank": rows["rank"],
        "similar_product_id": ids.gather(rows["item"]),
        "score": rows["score"],
        "reason": similar_item_reasons(rows.select("query", "item", "signal", "bought_together"), products),
        "model": rows["model"],
    }).with_columns(build_id=pl.lit(build_id)) if rows.height else pl.DataFrame(schema=GOLD_TABLES["similar_items"].schema)
    carried = ids.filter(pl.Series(~plan.recompute)).to_list()
    table = conform(merge_lists(previous.read() if previous else None, conform(table, GOLD_TABLES["similar_items"]),
                                "product_id", carried), GOLD_TABLES["similar_items"])
    state = next_state(previous.state if previous else None, plan, settings, id_list, hashes, id_list, hashes, spaces,
                       prepared.ranked)
    timings["table"] = time.perf_counter() - started - sum(timings.values())
    log.info("similar_items: %d rows for %d products (%d recomputed, %d carried over) in %.1fs", table.height, n,
             len(queries), len(carried), time.perf_counter() - started)
    return ListsBuild(table=table, seconds={k: round(v, 3) for k, v in timings.items()}, state=state, plan=plan)
