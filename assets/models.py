"""Models: ALS factors, the two-tower model and its item vectors for every product."""

from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config
from assets.retrain_config import RetrainConfig, decision_metadata
from recsys import retraining
from recsys.models.als import ALSParams
from recsys.models.plots import curve_figure
from recsys.models.stages import (ProbeSettings, StageResult, fit_or_pin_als, fit_or_pin_two_tower, item_tower_vectors,
                                  unit_vectors)
from recsys.retraining import FitOrPin
from recsys.models.two_tower import TwoTowerParams, TwoTowerRecommender
from resources import LakeResource

GROUP = "models"


class ProbeConfig(dg.Config):
    """The validation probe: a seeded sample of validation users ranked during training."""

    k: int = field_default(ProbeSettings, "k")
    max_users: int = field_default(ProbeSettings, "max_users")
    seed: int = field_default(ProbeSettings, "seed")

    def settings(self) -> ProbeSettings:
        return from_config(ProbeSettings, self)


class ALSConfig(dg.Config):
    factors: int = field_default(ALSParams, "factors")
    regularization: float = field_default(ALSParams, "regularization")
    alpha: float = field_default(ALSParams, "alpha")
    iterations: int = field_default(ALSParams, "iterations")
    seed: int = field_default(ALSParams, "seed")
    num_threads: int = field_default(ALSParams, "num_threads")
    """implicit's threads, 0 = every CPU the process may use."""
    curve_every: int = 0
    """Validation metrics every n iterations for the curve plot (0: once, at the end; the curve is opt-in
    because each point ranks the whole probe again)."""
    probe: ProbeConfig = ProbeConfig()
    retrain: RetrainConfig = RetrainConfig()

    def params(self) -> ALSParams:
        return from_config(ALSParams, self)


def _content_vectors(lake: LakeResource) -> pl.DataFrame:
    """The columns of features/item_embeddings the towers read (the image/text vectors are not needed)."""
    path = lake.table_path(keys.ITEM_EMBEDDINGS)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet: materialize features/item_embeddings first")
    return pl.read_parquet(path, columns=["product_id", "fused_vector", "encoder", "encoder_version"])


def _rounded(values: dict) -> dict:
    return {k: round(float(v), 4) for k, v in values.items()}


def _stage_metadata(stage: StageResult, outcome: FitOrPin, folder: Path) -> dict:
    """What the UI shows of either model's stage: validation against popularity, timings, the decision."""
    return {"users": len(stage.model.user_ids), "items": len(stage.model.item_ids),
            "validation": _rounded(stage.validation), "popularity_validation": _rounded(stage.popularity_validation),
            "seconds": stage.seconds, **decision_metadata(outcome.decision),
            "trained_at": retraining.trained_at(folder) or "unknown", "path": dg.MetadataValue.path(str(folder))}


@dg.asset(
    code_version="2026-12-07",
    key=keys.ALS_MODEL, group_name=GROUP, deps=[keys.INTERACTION_SPLIT], kinds={"python", "implicit"},
    description="Implicit-feedback ALS on the train split: user and item factors with their ids (models/als/).",
    check_specs=[dg.AssetCheckSpec("factors_finite", asset=keys.ALS_MODEL, blocking=True,
                                   description="Every user and item factor is a finite number.")],
)
def als_model(context: dg.AssetExecutionContext, config: ALSConfig, lake: LakeResource):
    target = lake.path(keys.ALS_MODEL)
    outcome = fit_or_pin_als(lake.read(keys.INTERACTION_SPLIT), config.params(), config.probe.settings(),
                             config.curve_every, target, config.retrain.policy())
    stage, model = outcome.result, outcome.result.model
    context.log.info("ALS: %s; %d users x %d items, validation %s vs popularity %s (%.1fs)",
                     outcome.decision.reason, len(model.user_ids), len(model.item_ids), _rounded(stage.validation),
                     _rounded(stage.popularity_validation), stage.seconds["total"])
    recall = f"recall@{config.probe.k}"
    plot = {}
    if stage.curve:
        plot["validation_curve"] = metadata.png(curve_figure(
            stage.curve, "iteration", [recall, f"ndcg@{config.probe.k}"], title="ALS on the validation probe",
            baselines={f"popularity {recall}": stage.popularity_validation[recall]}))
    return dg.MaterializeResult(
        metadata={**_stage_metadata(stage, outcome, target), "pairs": int(model.seen.nnz),
                  "factors": config.factors, "validation_users": model.summary.get("validation_users", 0), **plot},
        check_results=[dg.AssetCheckResult(check_name="factors_finite", passed=model.finite)],
    )


class TwoTowerConfig(dg.Config):
    dim: int = field_default(TwoTowerParams, "dim")
    hidden: int = field_default(TwoTowerParams, "hidden")
    loss: Literal["softmax", "bpr", "mse"] = field_default(TwoTowerParams, "loss")
    use_als: bool = field_default(TwoTowerParams, "use_als")
    temperature: float = field_default(TwoTowerParams, "temperature")
    batch_size: int = field_default(TwoTowerParams, "batch_size")
    uniform_negatives: int = field_default(TwoTowerParams, "uniform_negatives")
    lr: float = field_default(TwoTowerParams, "lr")
    max_epochs: int = field_default(TwoTowerParams, "max_epochs")
    examples_per_epoch: int | None = field_default(TwoTowerParams, "examples_per_epoch")
    """At most this many training examples per epoch, a fresh sample each epoch (None: every example)."""
    patience: int = field_default(TwoTowerParams, "patience")
    seed: int = field_default(TwoTowerParams, "seed")
    threads: int = field_default(TwoTowerParams, "threads")
    negative_pool: Literal["warm", "catalog"] = field_default(TwoTowerParams, "negative_pool")
    """Uniform negatives from items with interactions ("warm", so never-clicked items are not only ever
    negatives) or from the whole catalog."""
    warm_dropout: float = field_default(TwoTowerParams, "warm_dropout")
    """Share of candidate items whose interaction features are hidden in a training step (cold-start practice)."""
    probe: ProbeConfig = ProbeConfig()
    retrain: RetrainConfig = RetrainConfig()

    def params(self) -> TwoTowerParams:
        return from_config(TwoTowerParams, self)


@dg.asset(
    code_version="2026-12-07",
    key=keys.TWO_TOWER_MODEL, group_name=GROUP, deps=[keys.INTERACTION_SPLIT, keys.ITEM_EMBEDDINGS, keys.ALS_MODEL],
    kinds={"python", "pytorch"},
    description="Two-tower model (PyTorch): item tower over content embeddings, user tower pooling the user's "
                "item vectors (new users need no retraining), 128-d; early-stopped on validation (models/two_tower/).",
    check_specs=[
        dg.AssetCheckSpec("vectors_finite", asset=keys.TWO_TOWER_MODEL, blocking=True,
                          description="Every item and user vector is finite and unit length."),
        dg.AssetCheckSpec("beats_popularity", asset=keys.TWO_TOWER_MODEL,
                          description="Validation recall@k above the popularity baseline on the same users."),
    ],
)
def two_tower_model(context: dg.AssetExecutionContext, config: TwoTowerConfig, lake: LakeResource):
    target = lake.path(keys.TWO_TOWER_MODEL)
    outcome = fit_or_pin_two_tower(lake.read(keys.INTERACTION_SPLIT), _content_vectors(lake), config.params(),
                                   config.probe.settings(), target, lake.path(keys.ALS_MODEL), config.retrain.policy())
    stage, summary, k = outcome.result, outcome.result.model.summary, config.probe.k
    context.log.info("two-tower: %s; best epoch %s of %s, validation %s vs popularity %s (%.1fs)",
                     outcome.decision.reason, summary["best_epoch"], summary["epochs_run"], _rounded(stage.validation),
                     _rounded(stage.popularity_validation), stage.seconds["total"])
    curve = metadata.png(curve_figure(
        summary["curve"], "epoch", [f"recall@{k}", f"ndcg@{k}"], right=["train_loss"],
        title="two-tower: validation probe and training loss",
        baselines={f"popularity recall@{k}": stage.popularity_validation[f"recall@{k}"]}))
    return dg.MaterializeResult(
        metadata={**_stage_metadata(stage, outcome, target), "warm_items": summary["warm_items"],
                  "training_examples": summary["examples"], "best_epoch": summary["best_epoch"],
                  "epochs_run": summary["epochs_run"], "validation_users": summary["validation_users"],
                  "loss": config.loss, "use_als": config.use_als,
                  "content_encoders": summary.get("content_encoders", {}), "training_curve": curve},
        check_results=[
            dg.AssetCheckResult(check_name="vectors_finite", passed=unit_vectors(stage.model)),
            dg.AssetCheckResult(check_name="beats_popularity", passed=stage.beats_popularity,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"two_tower": _rounded(stage.validation),
                                          "popularity": _rounded(stage.popularity_validation)}),
        ],
    )


@dg.asset(
    code_version="2026-12-07",
    key=keys.ITEM_TOWER_VECTORS, group_name=GROUP, deps=[keys.TWO_TOWER_MODEL, keys.ITEM_EMBEDDINGS],
    kinds={"python", "parquet"},
    description="The two-tower item vector of every product (cold ones from content alone), for indexes and apps.",
    check_specs=[dg.AssetCheckSpec("one_vector_per_product", asset=keys.ITEM_TOWER_VECTORS, blocking=True,
                                   description="Every product of item_embeddings has exactly one finite vector.")],
)
def item_tower_vectors_asset(context: dg.AssetExecutionContext, lake: LakeResource):
    model = TwoTowerRecommender.from_pretrained(lake.path(keys.TWO_TOWER_MODEL))
    embeddings = _content_vectors(lake)
    vectors = item_tower_vectors(model, embeddings)
    lake.write(vectors, keys.ITEM_TOWER_VECTORS)
    matrix = np.asarray(vectors["vector"].to_numpy(), dtype=np.float32).reshape(vectors.height, -1)
    complete = (vectors["product_id"].n_unique() == vectors.height == embeddings.height
                and bool(np.isfinite(matrix).all()))
    by_source = {s: n for s, n in vectors.group_by("source").len().iter_rows()}
    context.log.info("item tower vectors: %d products (%d warm)", vectors.height, int(vectors["warm"].sum()))
    return dg.MaterializeResult(
        metadata={"dagster/row_count": vectors.height, "warm": int(vectors["warm"].sum()),
                  "by_source": metadata.counts(by_source, "source", "products"), "model_version": model.version,
                  "preview": metadata.preview(vectors.drop("vector")),
                  "path": dg.MetadataValue.path(str(lake.table_path(keys.ITEM_TOWER_VECTORS)))},
        check_results=[dg.AssetCheckResult(check_name="one_vector_per_product", passed=complete)],
    )
