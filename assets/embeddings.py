"""Item embeddings: the image tower trained on the catalog, and every product's image/text/fused vectors."""

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg
import polars as pl

from assets import keys, metadata
from assets.defaults import field_default, from_config
from assets.retrain_config import RetrainConfig, decision_metadata
from recsys import retraining, storage
from recsys.embeddings import (Encoder, EmbeddingBuild, FusionWeights, TowerParams, TowerFitSettings, TowerTrainingParams,
                               build_item_embeddings)
from recsys.embeddings.item_table import validate_item_embeddings
from recsys.embeddings.plots import tower_curve_figure
from recsys.embeddings.image_tower import write_skipped
from recsys.embeddings.tower_fit import (TEXT_VECTORS_FILE, PairMinimum, TooFewPairs, fit_image_tower,
                                         save_fitted_tower, saved_tower, too_few_pairs, training_data, training_pairs)
from recsys.images import primary_images
from resources import LakeResource
from resources.encoders import EncoderResource

GROUP = "embeddings"
METRIC_COLUMNS = ["text_to_image@1", "text_to_image@5", "text_to_image@10", "image_to_text@1", "image_to_text@5",
                  "image_to_text@10", "zero_shot_accuracy"]


class ImageTowerConfig(dg.Config):
    epochs: int = field_default(TowerTrainingParams, "epochs")
    batch_size: int = field_default(TowerTrainingParams, "batch_size")
    learning_rate: float = field_default(TowerTrainingParams, "learning_rate")
    seed: int = field_default(TowerTrainingParams, "seed")
    """Seeds the weights, batch order, augmentation and the held-out choice: same seed, same tower."""
    heldout_pairs: int = field_default(TowerFitSettings, "heldout_pairs")
    """Myntra (image, text) pairs kept out of training and scored (at most 20% of them on small catalogs)."""
    input_height: int = field_default(TowerParams, "input_height")
    input_width: int = field_default(TowerParams, "input_width")
    min_training_pairs: int = PairMinimum.training
    """Fewest (image, text) pairs to train on. Below it (or min_heldout_pairs) no tower is trained and every
    product is embedded from its text alone: trained on a few dozen pairs, the tower and the ridge baseline
    find a product's image from its text little better than chance (README), so image vectors would add noise."""
    min_heldout_pairs: int = PairMinimum.heldout
    """Fewest held-out Myntra pairs for the comparison with the random tower to mean something (among 7
    held-out images any model reaches Recall@10 = 1)."""
    retrain: RetrainConfig = RetrainConfig()

    def minimum(self) -> PairMinimum:
        return PairMinimum(training=self.min_training_pairs, heldout=self.min_heldout_pairs)

    def settings(self) -> TowerFitSettings:
        return TowerFitSettings(
            tower=from_config(TowerParams, self), training=from_config(TowerTrainingParams, self),
            heldout_pairs=self.heldout_pairs, heldout_seed=self.seed)


def _metrics_table(metrics: dict[str, dict[str, float]]) -> dg.MarkdownMetadataValue:
    columns = [c for c in METRIC_COLUMNS if any(c in m for m in metrics.values())]
    lines = ["| model | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for model, values in metrics.items():
        lines.append(f"| {model} | " + " | ".join(f"{values[c]:.3f}" if c in values else "" for c in columns) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _tower_result(summary: dict, version: str, decision: retraining.RetrainDecision, seconds: float,
                  lake: LakeResource) -> dg.MaterializeResult:
    metrics = summary["metrics"]
    tower, random_tower = metrics.get("image_tower", {}), metrics.get("random_tower", {})
    ridge = metrics.get("ridge", {})
    key = "text_to_image@10"
    return dg.MaterializeResult(
        asset_key=keys.IMAGE_TOWER,
        metadata={
            "version": version, "reused": not decision.retrain, **decision_metadata(decision),
            "trained_at": retraining.trained_at(lake.path(keys.IMAGE_TOWER)) or "unknown",
            "fingerprint": summary["fingerprint"],
            "pairs": summary["pairs"], "train_pairs": summary["train_pairs"], "heldout_pairs": summary["heldout_pairs"],
            "decode_failures": metadata.counts(summary["decode_failures"], "error", "images"),
            "heldout_metrics": _metrics_table(metrics),
            "text_to_image_recall@10": tower.get(key, float("nan")),
            "zero_shot_accuracy": tower.get("zero_shot_accuracy", float("nan")),
            "training_seconds": summary["timings"].get("train_seconds", 0.0),
            "timings": metadata.counts(summary["timings"], "step", "seconds"),
            "epochs": summary["epochs"], "device": summary["device"], "precision": summary["precision"],
            "threads": summary["threads"], "ridge_alpha": summary.get("ridge_alpha"),
            "readout": {k: v for k, v in (summary.get("readout") or {}).items() if k != "scores"},
            "training_curve": metadata.png(tower_curve_figure(summary)),
            "seconds": round(seconds, 1),
            "path": dg.MetadataValue.path(str(lake.path(keys.IMAGE_TOWER))),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="aligned_better_than_random", asset_key=keys.IMAGE_TOWER,
                passed=bool(tower) and tower.get(key, 0) > random_tower.get(key, 1),
                metadata={"tower": tower.get(key), "random_tower": random_tower.get(key)}),
            dg.AssetCheckResult(
                check_name="beats_ridge_baseline", asset_key=keys.IMAGE_TOWER, severity=dg.AssetCheckSeverity.WARN,
                passed=bool(tower) and tower.get(key, 0) >= ridge.get(key, 1),
                metadata={"tower": tower.get(key), "ridge": ridge.get(key)}),
            dg.AssetCheckResult(check_name="tower_trained", asset_key=keys.IMAGE_TOWER, passed=True,
                                description=f"trained on {summary['train_pairs']} pairs"),
        ],
    )


def _skipped_tower(context: dg.AssetExecutionContext, reason: str, target: Path, pairs: int) -> dg.MaterializeResult:
    """No tower: its folder says why, products are embedded text-only, and a warning check says so."""
    context.log.warning("image tower not trained, products get text-only vectors: %s", reason)
    stage = storage.staging_dir(target)
    write_skipped(stage, reason, {"pairs": pairs})
    storage.replace_dir_atomic(stage, target)
    not_applicable = f"not applicable: no tower trained ({reason})"
    return dg.MaterializeResult(
        asset_key=keys.IMAGE_TOWER,
        metadata={"skipped": reason, "pairs": pairs, "image_side": "none: text-only vectors",
                  "path": dg.MetadataValue.path(str(target))},
        check_results=[
            dg.AssetCheckResult(check_name="aligned_better_than_random", passed=True, description=not_applicable),
            dg.AssetCheckResult(check_name="beats_ridge_baseline", passed=True, description=not_applicable),
            dg.AssetCheckResult(check_name="tower_trained", passed=False, severity=dg.AssetCheckSeverity.WARN,
                                description=f"no image tower, products are embedded from their text alone: {reason}",
                                metadata={"pairs": pairs}),
        ],
    )


@dg.asset(
    code_version="2026-12-07",
    key=keys.IMAGE_TOWER,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS, keys.IMAGE_MANIFEST],
    kinds={"pytorch"},
    description="The local encoder's image tower: a small CNN trained with CLIP-style InfoNCE on the catalog's own "
                "(image, product text) pairs so image vectors land in the all-MiniLM-L6-v2 text space, ending in a "
                "text-memory readout over the training texts. Scored on held-out pairs against a random tower and a "
                "colour/pixel ridge baseline. Pinned between retrains (weekly, or when the pairs drift more than "
                "10% or the settings change); not trained when the encoder backend is 'clip', nor on too few pairs "
                "(min_training_pairs, min_heldout_pairs: then products are embedded text-only, with a warning).",
    check_specs=[
        dg.AssetCheckSpec("aligned_better_than_random", asset=keys.IMAGE_TOWER, blocking=True,
                          description="Held-out text->image Recall@10 above the untrained (random) tower's."),
        dg.AssetCheckSpec("beats_ridge_baseline", asset=keys.IMAGE_TOWER,
                          description="Held-out text->image Recall@10 at least the ridge baseline's (warning)."),
        dg.AssetCheckSpec("tower_trained", asset=keys.IMAGE_TOWER,
                          description="A tower was trained: enough (image, text) pairs (min_training_pairs, "
                                      "min_heldout_pairs). A warning: without one every product is text-only."),
    ],
)
def image_tower(context: dg.AssetExecutionContext, config: ImageTowerConfig, lake: LakeResource,
                encoder: EncoderResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    target = lake.path(keys.IMAGE_TOWER)
    if encoder.backend == "clip":
        context.log.info("encoder backend is clip: the image tower is not used, nothing trained")
        return dg.MaterializeResult(
            metadata={"skipped": "encoder backend 'clip' does not use the image tower"},
            check_results=[dg.AssetCheckResult(check_name=name, passed=True, description="skipped: clip backend")
                           for name in ("aligned_better_than_random", "beats_ridge_baseline", "tower_trained")])
    pairs = training_pairs(lake.read(keys.SILVER_PRODUCTS), primary_images(lake.read(keys.IMAGE_MANIFEST)),
                           lake.root_path)
    if reason := too_few_pairs(pairs, config.settings(), config.minimum()):
        return _skipped_tower(context, reason, target, pairs.height)
    data = training_data(pairs, encoder.text_encoder_id(), config.settings())
    try:
        outcome = retraining.fit_or_pin(target, data, config.retrain.policy(), pinned=lambda: saved_tower(target),
                                        fit=lambda record: _fit_tower(context, config, encoder, pairs, target, record))
    except TooFewPairs as too_few:
        return _skipped_tower(context, str(too_few), target, pairs.height)
    context.log.info("%s: %s", "trained a new tower" if outcome.fitted else "reused the saved tower",
                     outcome.decision.reason)
    return _tower_result(*outcome.result, outcome.decision, time.perf_counter() - started, lake)


def _fit_tower(context: dg.AssetExecutionContext, config: ImageTowerConfig, encoder: EncoderResource,
               pairs: pl.DataFrame, target: Path, record) -> tuple[dict, str]:
    """Train a tower on ``pairs`` and save it with its record: its summary and version."""
    context.log.info("training on %d pairs (load average %s)", pairs.height, os.getloadavg())
    fit = fit_image_tower(pairs, encoder.text_encoder(), config.settings(), device=encoder.resolved_device(),
                          threads=encoder.threads, decode_workers=max(encoder.decode_workers, encoder.threads),
                          precision=encoder.precision, minimum=config.minimum())
    summary = {**fit.summary(), "load_average_at_start": os.getloadavg()}
    return summary, save_fitted_tower(fit, summary, target, record)


class ItemEmbeddingsConfig(dg.Config):
    image_weight: float = field_default(FusionWeights, "image")
    """Weight of the image vector in the fused vector (products with both)."""
    text_weight: float = field_default(FusionWeights, "text")
    """Weight of the text vector in the fused vector (products with both)."""


def product_embedder(lake: LakeResource, model: Encoder,
                     config: ItemEmbeddingsConfig) -> Callable[..., EmbeddingBuild]:
    """``build_item_embeddings`` bound to the lake, the text vectors already encoded (features/text_vectors
    and the tower's training texts, read once, here) and the fusion weights: ``embed(products, images,
    previous, shards=())``, ``images`` being the products' ``primary_images`` (of the full manifest, or of a shard's)."""
    tower_vectors = lake.path(keys.IMAGE_TOWER) / TEXT_VECTORS_FILE
    reusable = [table for table in (lake.read_if_exists(keys.TEXT_VECTORS),
                                    storage.read_parquet(tower_vectors) if tower_vectors.exists() else None)
                if table is not None]
    weights = FusionWeights(image=config.image_weight, text=config.text_weight)

    def embed(products: pl.DataFrame, images: pl.DataFrame, previous: pl.DataFrame | None,
              shards: Sequence[pl.DataFrame] = ()) -> EmbeddingBuild:
        return build_item_embeddings(products, images, lake.root_path, model, previous=previous, shards=shards,
                                     reusable_text_vectors=reusable, weights=weights)

    return embed


def shard_tables(lake: LakeResource) -> list[pl.DataFrame]:
    """What the catalog shards have built so far (none until the embed_shards job ran)."""
    return [storage.read_parquet(path) for path in sorted(lake.path(keys.ITEM_EMBEDDING_SHARDS).glob("*.parquet"))]


@dg.asset(
    code_version="2026-12-07",
    key=keys.ITEM_EMBEDDINGS,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS, keys.IMAGE_MANIFEST, keys.TEXT_VECTORS, keys.IMAGE_TOWER, keys.ITEM_EMBEDDING_SHARDS],
    kinds={"pytorch", "parquet"},
    description="features/item_embeddings.parquet: per silver product an image, a text and a fused vector in one "
                "L2-normalized space (384-d local, 512-d CLIP ViT-B/32), flags, encoder name/version and the content "
                "keys the vectors were computed from. Text vectors come from features/text_vectors (encoded beside "
                "the image tower). Incremental: only new or changed content is encoded; vectors "
                "the catalog shards (features/item_embedding_shards) already encoded are reused too.",
    check_specs=[
        dg.AssetCheckSpec("vectors_complete_and_normalized", asset=keys.ITEM_EMBEDDINGS, blocking=True,
                          description="One row per silver product; fused vector never null; every vector unit "
                                      "length; has_image/has_text match the vectors."),
        dg.AssetCheckSpec("cached_images_embedded", asset=keys.ITEM_EMBEDDINGS,
                          description="Every product with a cached image has an image vector (a warning: the others "
                                      "are served text-only, e.g. no image tower was trained)."),
    ],
)
def item_embeddings(context: dg.AssetExecutionContext, config: ItemEmbeddingsConfig, lake: LakeResource,
                    encoder: EncoderResource) -> dg.MaterializeResult:
    products = lake.read(keys.SILVER_PRODUCTS)
    model = encoder.load(lake.path(keys.IMAGE_TOWER))
    embed = product_embedder(lake, model, config)
    build = embed(products, primary_images(lake.read(keys.IMAGE_MANIFEST)),
                  lake.read_if_exists(keys.ITEM_EMBEDDINGS), shard_tables(lake))
    table = build.table
    lake.write(table, keys.ITEM_EMBEDDINGS)
    context.log.info("item embeddings: %d products, encoded %d texts + %d images, reused %d + %d, %.1fs",
                     table.height, build.texts_encoded, build.images_encoded, build.texts_reused,
                     build.images_reused, build.seconds)
    problems = validate_item_embeddings(table, products["product_id"])
    images_check = _cached_images_check(table, model.no_images_reason)
    if not images_check.passed:
        context.log.warning("item embeddings: %s", images_check.description)
    return dg.MaterializeResult(
        metadata={**_embeddings_metadata(build, model, encoder, config),
                  "path": dg.MetadataValue.path(str(lake.table_path(keys.ITEM_EMBEDDINGS)))},
        check_results=[dg.AssetCheckResult(
            check_name="vectors_complete_and_normalized", passed=not problems,
            description="; ".join(problems) or "all products present, all vectors unit length",
            metadata={"problems": len(problems)}), images_check],
    )


def _embeddings_metadata(build: EmbeddingBuild, model: Encoder, encoder: EncoderResource,
                         config: ItemEmbeddingsConfig) -> dict:
    """What the UI shows of an item-embeddings build: coverage, what was encoded or reused, throughput."""
    table = build.table
    has_image, has_text = table["has_image"], table["has_text"]
    return {
        "dagster/row_count": table.height,
        **model.describe(),
        "with_image": int(has_image.sum()), "with_text": int(has_text.sum()),
        "text_only": int((has_text & ~has_image).sum()), "image_only": int((has_image & ~has_text).sum()),
        "outcome": f"encoded {build.texts_encoded} texts + {build.images_encoded} images, reused "
                   f"{build.texts_reused} + {build.images_reused}",
        "texts_encoded": build.texts_encoded, "texts_reused": build.texts_reused,
        "images_encoded": build.images_encoded, "images_reused": build.images_reused,
        "image_failures": metadata.counts(build.image_failures, "error", "images"),
        "text_items_per_second": round(build.text_items_per_second, 1),
        "image_items_per_second": round(build.image_items_per_second, 1),
        "image_decode_wait_seconds": round(build.decode_wait_seconds, 2),
        "fusion_weights": {"image": config.image_weight, "text": config.text_weight},
        "image_side": model.no_images_reason or model.image_encoder_id,
        "threads": encoder.threads, "device": encoder.resolved_device(),
        "seconds": round(build.seconds, 1),
        "preview": metadata.preview(table, ["product_id", "has_image", "has_text", "encoder", "encoder_version",
                                            "content_key", "image_error"]),
    }


def _cached_images_check(table: pl.DataFrame, no_images_reason: str | None) -> dg.AssetCheckResult:
    cached = table.filter(pl.col("image_sha256").is_not_null())
    missing = cached.filter(~pl.col("has_image"))
    why = no_images_reason or f"{missing['image_error'].drop_nulls().len():,} cached images failed to decode"
    return dg.AssetCheckResult(
        check_name="cached_images_embedded", passed=missing.is_empty(), severity=dg.AssetCheckSeverity.WARN,
        description=(f"{missing.height:,} of {cached.height:,} products with a cached image have no image vector and "
                     f"are served text-only: {why}" if missing.height else
                     f"all {cached.height:,} products with a cached image have an image vector"),
        metadata={"cached": cached.height, "without_image_vector": missing.height})

