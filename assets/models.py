"""Models: ALS factors, the two-tower model and its item vectors for every product."""

from dataclasses import asdict
from typing import Literal

import dagster as dg
import numpy as np
import polars as pl

from assets import keys, metadata
from assets.retrain_config import RetrainConfig, decision_metadata
from recsys import retraining
from recsys.models.als import ALSParams, ALSRecommender
from recsys.models.plots import curve_figure
from recsys.models.stages import ProbeSettings, StageResult, item_tower_vectors, train_als, train_two_tower
from recsys.models.two_tower import TwoTowerParams, TwoTowerRecommender
from resources import LakeResource

GROUP = "models"


class ProbeConfig(dg.Config):
    """The validation probe: a seeded sample of validation users ranked during training."""

    k: int = 20
    max_users: int = 1000
    seed: int = 0

    def settings(self) -> ProbeSettings:
        return ProbeSettings(k=self.k, max_users=self.max_users, seed=self.seed)


class ALSConfig(dg.Config):
    factors: int = 32
    regularization: float = 0.1
    alpha: float = 5.0
    iterations: int = 15
    seed: int = 0
    num_threads: int = 0               # implicit's threads, 0 = all cores
    curve_every: int = 0
    """Validation metrics every n iterations for the curve plot (0: once, at the end; each point costs ~4% of
    the fit, so the curve is opt-in)."""
    probe: ProbeConfig = ProbeConfig()
    retrain: RetrainConfig = RetrainConfig()


def _content_vectors(lake: LakeResource) -> pl.DataFrame:
    """The columns of features/item_embeddings the towers read (the image/text vectors are not needed)."""
    path = lake.table_path(keys.ITEM_EMBEDDINGS)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet: materialize features/item_embeddings first")
    return pl.read_parquet(path, columns=["product_id", "fused_vector", "encoder", "encoder_version"])


def _pinned(model) -> StageResult:
    """The saved model as a stage result, from what its training measured."""
    summary = model.summary
    return StageResult(model, summary.get("validation", {}), summary.get("popularity_validation", {}),
                       seconds={"total": 0.0}, curve=summary.get("curve", []))


def _rounded(values: dict) -> dict:
    return {k: round(float(v), 4) for k, v in values.items()}


@dg.asset(
    code_version="2026-12-07",
    key=keys.ALS_MODEL, group_name=GROUP, deps=[keys.INTERACTION_SPLIT], kinds={"python", "implicit"},
    description="Implicit-feedback ALS on the train split: user and item factors with their ids (models/als/).",
    check_specs=[dg.AssetCheckSpec("factors_finite", asset=keys.ALS_MODEL, blocking=True,
                                   description="Every user and item factor is a finite number.")],
)
def als_model(context: dg.AssetExecutionContext, config: ALSConfig, lake: LakeResource):
    split = lake.read(keys.INTERACTION_SPLIT)
    params = ALSParams(factors=config.factors, regularization=config.regularization, alpha=config.alpha,
                       iterations=config.iterations, seed=config.seed, num_threads=config.num_threads)
    target = lake.path(keys.ALS_MODEL)
    data = retraining.TrainingData(
        settings={"params": {k: v for k, v in asdict(params).items() if k != "num_threads"},
                  "probe": config.probe.model_dump(), "curve_every": config.curve_every},
        keys=retraining.split_pair_keys(split, "train"))
    decision = retraining.decide(target, data, config.retrain.policy())
    context.log.info("ALS: %s", decision.reason)
    if decision.retrain:
        stage = train_als(split, params, config.probe.settings(), config.curve_every)
        stage.model.save_pretrained(target, with_files=lambda folder: retraining.write_record(folder, data))
    else:
        stage = _pinned(ALSRecommender.from_pretrained(target))
    model = stage.model
    context.log.info("ALS: %d users x %d items, validation %s vs popularity %s (%.1fs)", len(model.user_ids),
                     len(model.item_ids), _rounded(stage.validation), _rounded(stage.popularity_validation),
                     stage.seconds["total"])
    recall = f"recall@{config.probe.k}"
    plot = {}
    if stage.curve:
        plot["validation_curve"] = metadata.png(curve_figure(
            stage.curve, "iteration", [recall, f"ndcg@{config.probe.k}"], title="ALS on the validation probe",
            baselines={f"popularity {recall}": stage.popularity_validation[recall]}))
    return dg.MaterializeResult(
        metadata={
            "users": len(model.user_ids), "items": len(model.item_ids), "pairs": int(model.seen.nnz),
            "factors": config.factors, "validation": _rounded(stage.validation),
            "popularity_validation": _rounded(stage.popularity_validation),
            "validation_users": model.summary.get("validation_users", 0),
            "seconds": stage.seconds, **plot, **decision_metadata(decision),
            "trained_at": retraining.trained_at(target) or "unknown",
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[dg.AssetCheckResult(check_name="factors_finite", passed=model.finite)],
    )


class TwoTowerConfig(dg.Config):
    dim: int = 128
    hidden: int = 256
    loss: Literal["softmax", "bpr", "mse"] = "softmax"
    use_als: bool = False
    temperature: float = 0.05
    batch_size: int = 512
    uniform_negatives: int = 512
    lr: float = 2e-3
    max_epochs: int = 15
    examples_per_epoch: int | None = 2_000_000
    """At most this many training examples per epoch, a fresh sample each epoch (None: every example)."""
    patience: int = 3
    seed: int = 0
    threads: int = 1
    negative_pool: Literal["warm", "catalog"] = "warm"
    """Uniform negatives from items with interactions ("warm", so never-clicked items are not only ever
    negatives) or from the whole catalog."""
    warm_dropout: float = 0.5
    """Share of candidate items whose interaction features are hidden in a training step (cold-start practice)."""
    probe: ProbeConfig = ProbeConfig()
    retrain: RetrainConfig = RetrainConfig()

    def params(self) -> TwoTowerParams:
        return TwoTowerParams(dim=self.dim, hidden=self.hidden, loss=self.loss, use_als=self.use_als,
                              temperature=self.temperature, batch_size=self.batch_size,
                              uniform_negatives=self.uniform_negatives, lr=self.lr, max_epochs=self.max_epochs,
                              examples_per_epoch=self.examples_per_epoch,
                              patience=self.patience, seed=self.seed, threads=self.threads,
                              negative_pool=self.negative_pool, warm_dropout=self.warm_dropout)


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
    split = lake.read(keys.INTERACTION_SPLIT)
    embeddings = _content_vectors(lake)
    target = lake.path(keys.TWO_TOWER_MODEL)
    # The towers read the content vectors (and ALS factors): a new encoder or ALS model means a retrain.
    upstream = {"encoders": sorted(set(embeddings["encoder"] + "@" + embeddings["encoder_version"])),
                "als_trained_at": retraining.trained_at(lake.path(keys.ALS_MODEL)) if config.use_als else None}
    data = retraining.TrainingData(
        settings={"params": {k: v for k, v in asdict(config.params()).items() if k != "threads"},
                  "probe": config.probe.model_dump(), **upstream},
        keys=retraining.split_pair_keys(split, "train"))
    decision = retraining.decide(target, data, config.retrain.policy())
    context.log.info("two-tower: %s", decision.reason)
    if decision.retrain:
        als = ALSRecommender.from_pretrained(lake.path(keys.ALS_MODEL)) if config.use_als else None
        stage = train_two_tower(split, embeddings, config.params(), als, config.probe.settings())
        stage.model.save_pretrained(target, with_files=lambda folder: retraining.write_record(folder, data))
    else:
        stage = _pinned(TwoTowerRecommender.from_pretrained(target))
    model: TwoTowerRecommender = stage.model
    summary = model.summary
    context.log.info("two-tower: best epoch %s of %s, validation %s vs popularity %s (%.1fs)", summary["best_epoch"],
                     summary["epochs_run"], _rounded(stage.validation), _rounded(stage.popularity_validation),
                     stage.seconds["total"])
    k = config.probe.k
    baselines = {f"popularity recall@{k}": stage.popularity_validation[f"recall@{k}"]}
    norms = np.concatenate([np.linalg.norm(model.item_vectors, axis=1), np.linalg.norm(model.user_vectors, axis=1)])
    served = norms[len(model.item_vectors):] > 0
    unit = np.isfinite(norms).all() and np.allclose(norms[:len(model.item_vectors)], 1.0, atol=1e-3) \
        and np.allclose(norms[len(model.item_vectors):][served], 1.0, atol=1e-3)
    return dg.MaterializeResult(
        metadata={
            "users": len(model.user_ids), "items": len(model.item_ids), "warm_items": summary["warm_items"],
            "training_examples": summary["examples"], "best_epoch": summary["best_epoch"],
            "epochs_run": summary["epochs_run"], "validation": _rounded(stage.validation),
            "popularity_validation": _rounded(stage.popularity_validation),
            "validation_users": summary["validation_users"], "loss": config.loss, "use_als": config.use_als,
            "seconds": stage.seconds, "content_encoders": summary.get("content_encoders", {}),
            "training_curve": metadata.png(curve_figure(
                summary["curve"], "epoch", [f"recall@{k}", f"ndcg@{k}"], right=["train_loss"],
                title="two-tower: validation probe and training loss", baselines=baselines)),
            **decision_metadata(decision), "trained_at": retraining.trained_at(target) or "unknown",
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[
            dg.AssetCheckResult(check_name="vectors_finite", passed=bool(unit)),
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
