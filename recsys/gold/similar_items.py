"""gold/similar_items: for every product, the K most similar other products, with a reason.

Candidates: the FAISS index over content vectors (always), plus the nearest items in two-tower
space and in ALS item-factor space where those models know the item. Re-ranking mixes content
similarity, two-tower similarity, ALS similarity (all cosines) and popularity
(``recsys.recommend.hybrid``). A product never lists itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from recsys.gold.schemas import GOLD_TABLES, TableBuild, conform
from recsys.vectors import AlignedVectors
from recsys.recommend import CandidateSource, History, VectorSignal, generate_candidates, rerank
from recsys.recommend.reasons import similar_item_reasons
from recsys.topk import DEFAULT_K, Exclusions, SearchFn

log = logging.getLogger(__name__)

DEFAULT_SIMILAR_WEIGHTS: dict[str, float] = {"content": 1.0, "two_tower": 0.3, "als": 0.3, "popularity": 0.05}


@dataclass(frozen=True)
class SimilarItemsConfig:
    k: int = DEFAULT_K
    candidates_per_source: int = 100
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SIMILAR_WEIGHTS))
    block_rows: int = 16_384


def build_similar_items(products: pl.DataFrame, content: AlignedVectors, content_search: SearchFn, *,
                        tower: AlignedVectors | None = None, als: AlignedVectors | None = None,
                        history: History | None = None, config: SimilarItemsConfig = SimilarItemsConfig(),
                        build_id: str) -> TableBuild:
    """similar_items rows for ``products`` (gold/products rows; every vector is aligned to this order).

    ``content_search`` returns positions in this order (an ``ItemIndex`` search remapped, or
    ``recsys.topk.exact_search`` over ``content.vectors``).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    n = products.height
    size = config.candidates_per_source
    signals: list = [VectorSignal("content", content.vectors, content.vectors, content.known, content.known)]
    sources = [CandidateSource("content", content_search, content.vectors, size, content.known)]
    for name, space in (("two_tower", tower), ("als", als)):
        if space is not None and config.weights.get(name, 0) > 0:
            unit = space.normalized()
            signal = VectorSignal(name, unit.vectors, unit.vectors, unit.known, unit.known)
            signals.append(signal)
            sources.append(CandidateSource(name, signal.search(), unit.vectors, size, unit.known))
    if history is not None:
        signals.append(history.popularity_signal())
    candidates = generate_candidates(sources, n, Exclusions.own_position(n), block_rows=config.block_rows)
    timings["candidates"] = time.perf_counter() - started
    ranked = rerank(candidates, signals, config.weights, config.k)
    timings["rerank"] = time.perf_counter() - started - timings["candidates"]
    rows = ranked.rows()
    is_als = (rows["signal"] == "als").to_numpy()
    bought = np.zeros(rows.height, dtype=bool)
    if history is not None and is_als.any():
        bought[is_als] = history.bought_together(rows["query"].to_numpy()[is_als], rows["item"].to_numpy()[is_als])
    rows = rows.with_columns(bought_together=pl.Series(bought))
    ids = products["product_id"]
    table = pl.DataFrame({
        "product_id": ids.gather(rows["query"]),
        "rank": rows["rank"],
        "similar_product_id": ids.gather(rows["item"]),
        "score": rows["score"],
        "reason": similar_item_reasons(rows.select("query", "item", "signal", "bought_together"), products),
        "model": rows["model"],
    }).with_columns(build_id=pl.lit(build_id)) if rows.height else pl.DataFrame(schema=GOLD_TABLES["similar_items"].schema)
    table = conform(table, GOLD_TABLES["similar_items"])
    timings["table"] = time.perf_counter() - started - timings["candidates"] - timings["rerank"]
    log.info("similar_items: %d rows for %d products in %.1fs", table.height, n, time.perf_counter() - started)
    return TableBuild(table=table, seconds={k: round(v, 3) for k, v in timings.items()})
