"""The model stages of the pipeline as plain functions: split table in, fitted model and what
was measured out (the Dagster assets call these and only add I/O and metadata).

Every stage reads the same ``features/interaction_split`` table: models fit on ``train`` only,
watch ``validation`` (a seeded sample of users, ``RankingProbe``) and never see ``test``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsys import retraining
from recsys.retraining import FitOrPin, RetrainPolicy
from recsys.models.als import ALSParams, ALSRecommender
from recsys.models.matrix import Interactions
from recsys.models.popularity import PopularityRecommender
from recsys.models.two_tower import ItemFeatures, TwoTowerParams, TwoTowerRecommender
from recsys.models.validation import RankingProbe

log = logging.getLogger(__name__)

ITEM_TOWER_VECTORS_SCHEMA = {"product_id": pl.String, "warm": pl.Boolean, "source": pl.String,
                             "model_version": pl.String}


@dataclass(frozen=True)
class ProbeSettings:
    k: int = 20
    max_users: int = 1000
    seed: int = 0


@dataclass
class StageResult:
    model: Any
    validation: dict[str, float]               # the model on the validation probe
    popularity_validation: dict[str, float]    # the popularity baseline on the same probe
    seconds: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    dropped_rows: int = 0                      # train rows whose product has no content vector

    @property
    def beats_popularity(self) -> bool:
        key = next((k for k in self.validation if k.startswith("recall@")), None)
        return key is not None and self.validation[key] > self.popularity_validation.get(key, float("inf"))


def split_part(split: pl.DataFrame, name: str) -> pl.DataFrame:
    return split.filter(pl.col("split") == name)


def validation_probe(split: pl.DataFrame, train: Interactions, settings: ProbeSettings) -> RankingProbe:
    """Validation users known to ``train``, their held-out products restricted to ``train``'s items."""
    heldout = split_part(split, "validation").filter(
        pl.col("user_id").is_in(train.user_ids.tolist()) & pl.col("product_id").is_in(train.item_ids.tolist()))
    return RankingProbe.from_events(heldout, k=settings.k, max_users=settings.max_users, seed=settings.seed)


def train_als(split: pl.DataFrame, params: ALSParams, probe: ProbeSettings = ProbeSettings(),
              curve_every: int = 0) -> StageResult:
    """ALS on the train split (warm users and items), its validation metrics, and popularity on
    the same probe for reference. ``curve_every`` > 0 also ranks the probe after every n-th
    iteration (the validation curve); each point costs what the final ranking costs, so the
    default ranks only once, at the end."""
    started = time.perf_counter()
    train = Interactions.from_events(split_part(split, "train"))
    # Validation items outside the train item set cannot be ranked by ALS, but they still count
    # against it: the probe keeps every validation item of users ALS knows.
    heldout = split_part(split, "validation").filter(pl.col("user_id").is_in(train.user_ids.tolist()))
    ranking = RankingProbe.from_events(heldout, k=probe.k, max_users=probe.max_users, seed=probe.seed)
    matrix_seconds = time.perf_counter() - started
    curve: list[dict[str, Any]] = []

    def on_iteration(iteration: int, seconds: float, model: ALSRecommender) -> None:
        if curve_every and (iteration % curve_every == 0 or iteration == params.iterations):
            curve.append({"iteration": iteration, "iteration_seconds": round(seconds, 4), **ranking.evaluate(model)})

    fit_started = time.perf_counter()
    model = ALSRecommender(params).fit(train, on_iteration)
    fitted = time.perf_counter()
    validation = {k: v for k, v in curve[-1].items() if "@" in k} if curve else ranking.evaluate(model)
    popularity = ranking.evaluate(PopularityRecommender().fit(train))
    model.summary.update({"validation": validation, "popularity_validation": popularity, "curve": curve,
                          "validation_users": len(ranking)})
    finished = time.perf_counter()
    return StageResult(model, validation, popularity, curve=curve, seconds={
        "matrix": round(matrix_seconds, 3), "fit_with_curve": round(fitted - fit_started, 3),
        "validation": round(finished - fitted, 3), "total": round(finished - started, 3)})


def train_two_tower(split: pl.DataFrame, embeddings: pl.DataFrame, params: TwoTowerParams,
                    als: ALSRecommender | None = None, probe: ProbeSettings = ProbeSettings()) -> StageResult:
    """The two-tower over the whole catalog of ``embeddings`` (product_id, fused_vector, ...)."""
    started = time.perf_counter()
    if params.use_als and als is None:
        raise ValueError("use_als=True needs the fitted ALS model (materialize models/als first)")
    catalog = embeddings["product_id"]
    train_rows = split_part(split, "train")
    usable = train_rows.filter(pl.col("product_id").is_in(catalog.implode()))
    if usable.height < train_rows.height:
        log.warning("%d train rows name products without a content vector; left out", train_rows.height - usable.height)
    train = Interactions.from_events(usable, item_ids=catalog.to_list())
    features = ItemFeatures.build(embeddings, train, *((als.item_ids, als.item_factors) if params.use_als else ()))
    ranking = validation_probe(split, train, probe)
    prepared = time.perf_counter()
    model = TwoTowerRecommender(params).fit(train, features, ranking if len(ranking) else None)
    fitted = time.perf_counter()
    validation = model.summary.get("best_validation") or ranking.evaluate(model)
    popularity = ranking.evaluate(PopularityRecommender().fit(train))
    encoders = {}
    if {"encoder", "encoder_version"} <= set(embeddings.columns):
        encoders = {f"{e} {v}": n for e, v, n in embeddings.group_by("encoder", "encoder_version").len().iter_rows()}
    dropped = train_rows.height - usable.height
    model.summary.update({"validation": validation, "popularity_validation": popularity,
                          "content_encoders": encoders, "train_rows_without_content": dropped})
    return StageResult(model, validation, popularity, curve=model.summary.get("curve", []),
                       dropped_rows=dropped,
                       seconds={"prepare": round(prepared - started, 3), "fit": round(fitted - prepared, 3),
                                "total": round(time.perf_counter() - started, 3)})


def item_tower_vectors(model: TwoTowerRecommender, embeddings: pl.DataFrame,
                       column: str = "fused_vector") -> pl.DataFrame:
    """One row per product of ``embeddings``: its two-tower item vector. Products the model was
    trained with keep their trained vector (``source`` 'model'); products added since are encoded
    from their content as cold items (``source`` 'content')."""
    rows = model.item_rows(embeddings["product_id"].to_list())
    known = rows >= 0
    vectors = np.zeros((embeddings.height, model.params.dim), dtype=np.float32)
    vectors[known] = model.item_vectors[rows[known]]
    if (~known).any():
        fresh = ItemFeatures.build(embeddings.filter(pl.Series(~known)), column=column)
        vectors[~known] = model.encode_items(fresh.content)
    warm = np.zeros(embeddings.height, dtype=bool)
    warm[known] = model.item_is_warm[rows[known]]
    return pl.DataFrame({
        "product_id": embeddings["product_id"],
        "vector": pl.Series("vector", vectors, dtype=pl.Array(pl.Float32, model.params.dim)),
        "warm": warm,
        "source": np.where(known, "model", "content"),
        "model_version": [model.version] * embeddings.height,
    }).cast(ITEM_TOWER_VECTORS_SCHEMA)


def pinned_stage(model) -> StageResult:
    """A saved model as a stage result, from what its training measured."""
    summary = model.summary
    return StageResult(model, summary.get("validation", {}), summary.get("popularity_validation", {}),
                       seconds={"total": 0.0}, curve=summary.get("curve", []))


def fit_or_pin_als(split: pl.DataFrame, params: ALSParams, probe: ProbeSettings, curve_every: int, folder: Path,
                   policy: RetrainPolicy) -> FitOrPin[StageResult]:
    """ALS reused from ``folder`` or trained on ``split`` and saved there, as the retrain policy says."""
    data = retraining.model_training_data(params, split, leave_out=("num_threads",), probe=asdict(probe),
                                          curve_every=curve_every)

    def fit(record) -> StageResult:
        stage = train_als(split, params, probe, curve_every)
        stage.model.save_pretrained(folder, with_files=record)
        return stage

    return retraining.fit_or_pin(folder, data, policy, fit=fit,
                                 pinned=lambda: pinned_stage(ALSRecommender.from_pretrained(folder)))


def fit_or_pin_two_tower(split: pl.DataFrame, embeddings: pl.DataFrame, params: TwoTowerParams, probe: ProbeSettings,
                         folder: Path, als_folder: Path, policy: RetrainPolicy) -> FitOrPin[StageResult]:
    """The two-tower reused from ``folder`` or trained and saved there. The towers read the content vectors
    (and the ALS factors when ``use_als``): a new encoder or ALS model means a retrain."""
    upstream = {"encoders": sorted(set(embeddings["encoder"] + "@" + embeddings["encoder_version"])),
                "als_trained_at": retraining.trained_at(als_folder) if params.use_als else None}
    data = retraining.model_training_data(params, split, leave_out=("threads",), probe=asdict(probe), **upstream)

    def fit(record) -> StageResult:
        als = ALSRecommender.from_pretrained(als_folder) if params.use_als else None
        stage = train_two_tower(split, embeddings, params, als, probe)
        stage.model.save_pretrained(folder, with_files=record)
        return stage

    return retraining.fit_or_pin(folder, data, policy, fit=fit,
                                 pinned=lambda: pinned_stage(TwoTowerRecommender.from_pretrained(folder)))


def unit_vectors(model: TwoTowerRecommender) -> bool:
    """Every item vector and every served user vector (users with a history) is finite and unit length."""
    items = np.linalg.norm(model.item_vectors, axis=1)
    users = np.linalg.norm(model.user_vectors, axis=1)
    served = users > 0
    return bool(np.isfinite(items).all() and np.isfinite(users).all() and np.allclose(items, 1.0, atol=1e-3)
                and np.allclose(users[served], 1.0, atol=1e-3))
