"""Every model ranked and scored on the test split with the weights tuned on validation.

Models (both tasks unless noted): random, popularity, tfidf, text, image, fused_default (the
stored fused vector), fused_tuned (re-fused at the tuned image weight: what the index holds),
als, two_tower, hybrid (the production re-ranking with the tuned weights). History is
train + validation (``EvaluationInputs`` built with those splits); relevance is test rows only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.embeddings.product_text import product_texts
from recsys.evaluation import baselines, ground_truth, protocol, rankings
from recsys.evaluation.inputs import EvaluationInputs, content_spaces, exact_searches
from recsys.gold import SimilarItemsSettings
from recsys.gold.similar_items import similar_candidates

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldoutSettings:
    k: int = 20
    candidates_per_source: int = 100
    similar_queries: int = 1_000     # products sampled per similar-items relevance definition
    seed: int = 0


def heldout_truth(inputs: EvaluationInputs, settings: HeldoutSettings) -> pl.DataFrame:
    """Ground truth of every task and slice on the test split (TRUTH_SCHEMA)."""
    return pl.concat([
        ground_truth.user_ground_truth(inputs.split, "test"),
        ground_truth.co_interaction_ground_truth(inputs.split, "test", settings.similar_queries, settings.seed),
        ground_truth.attribute_ground_truth(inputs.products, "test", settings.similar_queries, settings.seed),
    ])


def _owned_matrix(inputs: EvaluationInputs) -> sp.csr_matrix:
    owned = inputs.history.owned
    return sp.csr_matrix((np.ones(len(owned.indices), np.float32), owned.indices, owned.indptr),
                         shape=(inputs.history.n_users, len(inputs.product_ids)))


def similar_rankings(inputs: EvaluationInputs, spaces: Mapping, searches: Mapping, weights: Mapping[str, float],
                     queries: np.ndarray, tfidf: baselines.TfidfModel, settings: HeldoutSettings) -> dict[str, pl.DataFrame]:
    """Every model's similar-items lists for the query product positions ``queries``."""
    k, product_ids = settings.k, inputs.product_ids
    out = {name: rankings.similar_by_vectors(spaces[space], queries, k, product_ids)
           for name, space in (("text", "text"), ("image", "image"), ("fused_default", "fused_default"),
                               ("fused_tuned", "fused"))}
    for name, space in (("two_tower", inputs.tower), ("als", inputs.als)):
        if space is not None:
            out[name] = rankings.similar_by_vectors(space.items, queries, k, product_ids)
    own = sp.csr_matrix((np.ones(len(queries), np.float32), (np.arange(len(queries)), queries)),
                        shape=(len(queries), len(product_ids)))
    query_ids = product_ids[queries].tolist()
    out["tfidf"] = tfidf.rank(query_ids, tfidf.matrix[queries], own, k, product_ids)
    out["random"] = baselines.random_rankings(query_ids, own, k, product_ids, settings.seed)
    prior = inputs.history.popularity.astype(np.float32)
    out["popularity"] = baselines.rank_by_scores(query_ids, lambda lo, hi: np.tile(prior, (hi - lo, 1)), own, k,
                                                 product_ids)
    prepared = similar_candidates(spaces["fused"], searches["fused"],
                                  tower=inputs.tower.items if inputs.tower else None,
                                  als=inputs.als.items if inputs.als else None, history=inputs.history,
                                  config=SimilarItemsSettings(k=k, candidates_per_source=settings.candidates_per_source,
                                                            weights=weights), queries=queries)
    out["hybrid"] = rankings.reranked_similar(prepared, weights, k, product_ids)
    return out


def evaluate_on_test(inputs: EvaluationInputs, tuned: Mapping, settings: HeldoutSettings,
                     build_id: str) -> protocol.EvaluationResult:
    """Rank every model on both tasks and score the lists against the test ground truth.

    ``tuned``: the saved tuning payload (``recsys.evaluation.tuning``): user and similar-items
    weights and the fusion image weight.
    """
    k, product_ids, history = settings.k, inputs.product_ids, inputs.history
    spaces = content_spaces(inputs, float(tuned["fusion"]["image"]))
    searches = exact_searches(spaces)
    log.info("ranking %d users with every model", history.n_users)
    prepared = rankings.prepare_users(history, spaces, searches, inputs.tower, inputs.als,
                                      settings.candidates_per_source, k)
    user = rankings.user_model_rankings(prepared, tuned["user_recommendations"], k, history, product_ids)
    owned = _owned_matrix(inputs)
    tfidf = baselines.TfidfModel(product_texts(inputs.products)["text"].to_list())
    user_ids = history.user_ids.tolist()
    user["tfidf"] = tfidf.rank(user_ids, tfidf.user_profiles(owned), owned, k, product_ids)
    user["random"] = baselines.random_rankings(user_ids, owned, k, product_ids, settings.seed)
    truth = heldout_truth(inputs, settings)
    queries = inputs.ids.positions_of(truth.filter(pl.col("task") == "similar_items")["query_id"].unique().sort()
                                      .to_list())
    log.info("ranking %d similar-items queries with every model", int((queries >= 0).sum()))
    similar = similar_rankings(inputs, spaces, searches, tuned["similar_items"], queries[queries >= 0], tfidf,
                               settings)
    train = inputs.split.filter(pl.col("split") == "train")
    return protocol.score_models({"user_recommendations": user, "similar_items": similar}, truth, inputs.products,
                                 spaces["fused"], train, build_id=build_id)
