"""Every weight the tables use, tuned on validation data: fusion, user and similar-items mixes.

Models see train only (``EvaluationInputs`` built with ``history_splits=["train"]``); relevance
comes from the validation split and, for similar items, from the validation half of the attribute
queries (``ground_truth.attribute_half``); the test rows are dropped before anything is read.

Validation relevance, all NDCG@k:
- ``user``: each user's validation items (slice ``all``);
- ``co_interaction``: for sampled products, what their validation users also had (validation split);
- ``attributes``: same article type, gender and colour, for sampled products of the validation half.
Objectives of different scales are combined by their geometric mean, so each counts by its
relative change (co-interaction NDCG is far smaller than attribute NDCG); a relevance definition
with no query on this lake is left out of the mean.

1. Fusion: for each image weight of ``FUSION_GRID`` the fused vectors are re-mixed and the content
   model alone is scored on user, co_interaction and attributes: all three read the fused vector
   (the user lists through the content profile, similar items directly).
2. User weights: coordinate ascent on ``user`` of the hybrid re-ranking over the candidate set
   built with the tuned fused vectors (``recsys.gold.user_recommendations``).
3. Similar-items weights: coordinate ascent on co_interaction x attributes of the production
   similar-items re-ranking (``recsys.gold.similar_items``). Tuning on co-interaction alone makes
   popularity win (popular items co-occur with everything) and the table stops listing similar
   items; attributes alone ignore what shoppers do. Neither is a model input that could leak:
   ALS and the two-tower trained on train interactions, and the test attribute queries are the
   other half of the catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from recsys.evaluation import ground_truth, rankings, tuning
from recsys.evaluation.inputs import EvaluationInputs, exact_search, fused_space
from recsys.gold import DEFAULT_SIMILAR_WEIGHTS, DEFAULT_USER_WEIGHTS, SimilarItemsSettings, UserRecommendationsSettings
from recsys.gold.similar_items import similar_candidates
from recsys.gold.user_recommendations import user_candidates
from recsys.recommend import pair_score_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationTuning:
    fusion: tuning.FusionTuning
    user: tuning.TuningResult
    similar: tuning.TuningResult
    queries: dict[str, int]          # validation queries per relevance definition
    seconds: dict[str, float]


@dataclass(frozen=True)
class ValidationTruth:
    user: pl.DataFrame
    similar: dict[str, pl.DataFrame]   # co_interaction, attributes (only those with queries)

    def similar_scores(self, ranked: pl.DataFrame, k: int) -> dict[str, float]:
        """NDCG@k per similar-items relevance definition, and their geometric mean as the objective."""
        scores = {name: tuning.validation_score(ranked, truth, "ndcg", k) for name, truth in self.similar.items()}
        return {**scores, tuning.OBJECTIVE: tuning.geometric_mean(list(scores.values()))}


def validation_truth(split: pl.DataFrame, products: pl.DataFrame, similar_queries: int, seed: int) -> ValidationTruth:
    """Validation relevance; the test rows of ``split`` are dropped before anything reads it."""
    heldout = split.filter(pl.col("split") != "test")
    user = ground_truth.user_ground_truth(heldout, "validation").filter(pl.col("slice") == "all")
    similar = {
        "co_interaction": ground_truth.co_interaction_ground_truth(heldout, "validation", similar_queries, seed),
        "attributes": ground_truth.attribute_ground_truth(products, "validation", similar_queries, seed),
    }
    return ValidationTruth(user, {name: truth for name, truth in similar.items() if truth.height})


def _query_positions(inputs: EvaluationInputs, truths: Mapping[str, pl.DataFrame]) -> np.ndarray:
    ids = sorted({q for truth in truths.values() for q in truth["query_id"].unique().to_list()})
    positions = inputs.ids.positions_of(ids)
    return positions[positions >= 0]


def tune_on_validation(inputs: EvaluationInputs, k: int = 10, candidates_per_source: int = 100,
                       similar_queries: int = 2_000, seed: int = 0) -> ValidationTuning:
    """Fusion, then user and similar-items weights, each maximising its validation objective."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    truth = validation_truth(inputs.split, inputs.products, similar_queries, seed)
    product_ids, history = inputs.product_ids, inputs.history
    positions = _query_positions(inputs, truth.similar)

    def fusion_scores(image_weight: float | None) -> dict[str, float]:
        space = fused_space(inputs, image_weight)
        users = rankings.reranked(rankings.content_user_candidates(history, space, exact_search(space),
                                                                   candidates_per_source, k),
                                  {"content": 1.0}, k, history, product_ids)
        scores = {"user": tuning.validation_score(users, truth.user, "ndcg", k),
                  **truth.similar_scores(rankings.similar_by_vectors(space, positions, k, product_ids), k)}
        scores[tuning.OBJECTIVE] = tuning.geometric_mean([scores[name] for name in ("user", *truth.similar)])
        log.info("fusion image weight %s: validation ndcg@%d %s", image_weight, k,
                 {name: round(v, 4) for name, v in scores.items()})
        return scores

    parts = " x ".join(["user", *truth.similar])
    objective = f"geometric mean of the content model's ndcg@{k} on validation ({parts})"
    if inputs.embeddings["image_vector"].null_count() < inputs.embeddings.height:
        fusion = tuning.tune_fusion(fusion_scores, objective)
    else:  # every weight gives the same text-only vectors: nothing to tune
        log.warning("no product has an image vector: the fusion's image weight is 0, not tuned")
        fusion = tuning.tune_fusion(fusion_scores, f"{objective}; no image vectors, image weight not tuned",
                                    grid=(0.0,))
    seconds["fusion"] = time.perf_counter() - started

    space = fused_space(inputs, fusion.image_weight)
    search = exact_search(space)
    prepared = user_candidates(history, space, search, tower=inputs.tower, als=inputs.als,
                               config=UserRecommendationsSettings(k=k, candidates_per_source=candidates_per_source),
                               all_signals=True)
    user_scores = pair_score_table(prepared.candidates, prepared.signals)     # computed once for every trial
    user = tuning.coordinate_ascent(
        lambda w: {tuning.OBJECTIVE: tuning.validation_score(
            rankings.reranked(prepared, w, k, history, product_ids, user_scores), truth.user, "ndcg", k)},
        DEFAULT_USER_WEIGHTS, [s.name for s in prepared.signals], f"ndcg@{k} on validation")
    log.info("user weights %s: validation ndcg@%d %.4f -> %.4f", user.weights, k, user.start, user.best)
    seconds["user_weights"] = time.perf_counter() - started - seconds["fusion"]

    if len(positions):
        similar_prepared = similar_candidates(
            space, search, tower=inputs.tower.items if inputs.tower else None,
            als=inputs.als.items if inputs.als else None, history=history,
            config=SimilarItemsSettings(k=k, candidates_per_source=candidates_per_source), queries=positions,
            all_signals=True)
        similar_scores = pair_score_table(similar_prepared.candidates, similar_prepared.signals,
                                          query_rows=similar_prepared.queries)
        similar = tuning.coordinate_ascent(
            lambda w: truth.similar_scores(
                rankings.reranked_similar(similar_prepared, w, k, product_ids, similar_scores), k),
            DEFAULT_SIMILAR_WEIGHTS, [s.name for s in similar_prepared.signals],
            f"geometric mean of ndcg@{k} on validation ({' x '.join(truth.similar)})")
    else:
        log.warning("no validation similar-items query on this lake: similar-items weights keep their defaults")
        similar = tuning.TuningResult(dict(DEFAULT_SIMILAR_WEIGHTS), "none (no validation query)", 0.0, 0.0)
    log.info("similar-items weights %s: validation %s %.4f -> %.4f", similar.weights, similar.objective,
             similar.start, similar.best)
    seconds["similar_weights"] = time.perf_counter() - started - seconds["fusion"] - seconds["user_weights"]
    queries = {"user": truth.user["query_id"].n_unique(),
               **{name: t["query_id"].n_unique() for name, t in truth.similar.items()}}
    return ValidationTuning(fusion=fusion, user=user, similar=similar, queries=queries,
                            seconds={name: round(value, 1) for name, value in seconds.items()})
