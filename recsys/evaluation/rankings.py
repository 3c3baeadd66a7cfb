"""Ranked lists from every model, in the evaluation's long form (query_id, rank, product_id, score).

User recommendations reuse the production path (``recsys.gold.user_recommendations``): one
candidate set per content space, re-ranked with a single signal's weight for each single model
and with the hybrid weights for ``hybrid``. A single model's list is exact: its own top
``candidates_per_source`` items are always among the candidates, and ``k`` is far below that.
Content spaces: ``text``, ``image``, ``fused_default`` (the fused vector as item_embeddings stores
it) and ``fused`` (re-fused with the weights tuned on validation: what the index and the tables
use; its single model is ``fused_tuned``).
Similar items: exact search in each model's item space (self excluded), and for ``hybrid`` the
production path (``recsys.gold.similar_items.similar_candidates`` + re-ranking).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from recsys.gold.similar_items import SimilarCandidates
from recsys.gold.user_recommendations import UserCandidates, UserRecommendationsSettings, UserSpace, user_candidates
from recsys.recommend import History, VectorSignal, rerank
from recsys.topk import Exclusions, blocked_topk
from recsys.vectors import AlignedVectors

RANKING_SCHEMA = {"query_id": pl.String, "rank": pl.Int32, "product_id": pl.String, "score": pl.Float32}

# Single models of the user task: the signal that alone ranks, and the content space it needs.
SINGLE_USER_MODELS: dict[str, tuple[str, str]] = {
    "popularity": ("popularity", "fused"),
    "text": ("content", "text"),
    "image": ("content", "image"),
    "fused_default": ("content", "fused_default"),
    "fused_tuned": ("content", "fused"),
    "als": ("als", "fused"),
    "two_tower": ("two_tower", "fused"),
}
CONTENT_ONLY_SPACES: tuple[str, ...] = ("text", "image", "fused_default")


def _frame(query_ids: np.ndarray, positions: np.ndarray, scores: np.ndarray, product_ids: np.ndarray) -> pl.DataFrame:
    valid = positions >= 0
    rows, cols = np.nonzero(valid)
    return pl.DataFrame({
        "query_id": query_ids[rows].tolist(),
        "rank": (cols + 1).astype(np.int32),
        "product_id": product_ids[positions[valid]].tolist(),
        "score": scores[valid].astype(np.float32),
    }, schema=RANKING_SCHEMA)


def reranked(prepared: UserCandidates, weights: Mapping[str, float], k: int, history: History,
             product_ids: np.ndarray, pair_scores: Mapping[str, np.ndarray] | None = None) -> pl.DataFrame:
    """Re-rank a prepared user candidate set with ``weights``; users no weighted signal knows get no list.
    ``pair_scores``: ``pair_score_table`` of the set, for many re-rankings of it."""
    ranked = rerank(prepared.candidates, prepared.signals, weights, k, pair_scores=pair_scores)
    return _frame(history.user_ids, ranked.topk.positions, ranked.topk.scores, product_ids)


def reranked_similar(prepared: SimilarCandidates, weights: Mapping[str, float], k: int, product_ids: np.ndarray,
                     pair_scores: Mapping[str, np.ndarray] | None = None) -> pl.DataFrame:
    """Re-rank a prepared similar-items candidate set with ``weights`` (query_id = the query product)."""
    ranked = rerank(prepared.candidates, prepared.signals, weights, k, query_rows=prepared.queries,
                    pair_scores=pair_scores)
    return _frame(product_ids[prepared.queries], ranked.topk.positions, ranked.topk.scores, product_ids)


def prepare_users(history: History, content: Mapping[str, AlignedVectors], searches: Mapping[str, object],
                  tower: UserSpace | None, als: UserSpace | None, candidates_per_source: int, k: int,
                  content_only: Sequence[str] = CONTENT_ONLY_SPACES) -> dict[str, UserCandidates]:
    """One candidate set per content space: 'fused' with every signal, each of ``content_only`` content-only."""
    config = UserRecommendationsSettings(k=k, candidates_per_source=candidates_per_source)
    prepared = {"fused": user_candidates(history, content["fused"], searches["fused"], tower=tower, als=als,
                                         config=config, all_signals=True)}
    for space in content_only:
        prepared[space] = content_user_candidates(history, content[space], searches[space], candidates_per_source, k)
    return prepared


def content_user_candidates(history: History, space: AlignedVectors, search, candidates_per_source: int,
                            k: int) -> UserCandidates:
    """The candidate set of a content-only model over ``space`` (profile = mean of the user's items)."""
    config = UserRecommendationsSettings(k=k, candidates_per_source=candidates_per_source, weights={"content": 1.0})
    return user_candidates(history, space, search, config=config)


def user_model_rankings(prepared: Mapping[str, UserCandidates], hybrid_weights: Mapping[str, float], k: int,
                        history: History, product_ids: np.ndarray) -> dict[str, pl.DataFrame]:
    out = {model: reranked(prepared[space], {signal: 1.0}, k, history, product_ids)
           for model, (signal, space) in SINGLE_USER_MODELS.items()}
    out["hybrid"] = reranked(prepared["fused"], hybrid_weights, k, history, product_ids)
    return out


def similar_by_vectors(space: AlignedVectors, query_positions: np.ndarray, k: int,
                       product_ids: np.ndarray) -> pl.DataFrame:
    """Exact cosine neighbours of the query products in ``space`` (unknown queries get nothing)."""
    unit = space.normalized()
    queries = query_positions[unit.known[query_positions]]
    if len(queries) == 0:
        return pl.DataFrame(schema=RANKING_SCHEMA)
    search = VectorSignal("space", unit.vectors, unit.vectors, unit.known, unit.known).search()
    own = Exclusions.from_pairs(np.arange(len(queries)), queries, len(queries))
    found = blocked_topk(unit.vectors[queries], k, search, own, label="evaluation similar items")
    return _frame(product_ids[queries], found.positions, found.scores, product_ids)
