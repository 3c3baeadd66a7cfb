"""Fit the local image tower on the catalog's own (image, text) pairs and score it honestly.

Steps: pick the products that have both a cached image and a text; hold out a fixed, seeded
set of Myntra pairs; decode every thumbnail once (worker threads) into one uint8 array;
encode the pair texts with MiniLM; train (``contrastive``); choose the text-memory readout on
training pairs (``text_memory``); score the tower with and without the readout, a random tower
and the ridge baseline (with and without the same readout) on the held-out pairs
(``alignment_metrics``).

The fit is keyed by a fingerprint of its inputs (every pair's image sha256 and text key, the
text encoder, the settings), so an unchanged catalog reuses the saved tower.

A tower is trained only on enough pairs (``PairMinimum``): with too few training pairs it
learns nothing an image can be trusted for, and with too few held-out pairs its comparison with
the random tower means nothing (Recall@10 among 7 held-out images is 1 for any model). Below
the minimum ``fit_image_tower`` raises ``TooFewPairs`` and the catalog is embedded text-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from recsys.embeddings.alignment_metrics import ZERO_SHOT_PROMPT, alignment_report, zero_shot_accuracy
from recsys.embeddings.baselines import RidgeBaseline, embed_with, random_tower_vectors
from recsys.embeddings.contrastive import TrainedTower, TowerTrainingParams, train_image_tower
from recsys.embeddings.image_preprocess import tower_thumbnail
from recsys import storage
from recsys.embeddings.image_tower import CONFIG_FILE, TowerParams
from recsys.embeddings.minilm import MiniLMTextEncoder
from recsys.embeddings.prefetch import prefetch_batches
from recsys.embeddings.product_text import product_texts
from recsys.embeddings.text_memory import ReadoutChoice, choose_readout, readout
from recsys.retraining import TrainingData

log = logging.getLogger(__name__)

# Bumped when the training code changes in a way that should retrain an unchanged catalog.
FIT_CODE_VERSION = "3"


@dataclass(frozen=True)
class TowerFitSettings:
    tower: TowerParams = field(default_factory=TowerParams)
    training: TowerTrainingParams = field(default_factory=TowerTrainingParams)
    heldout_pairs: int = 300
    heldout_source: str = "myntra_styles"
    heldout_seed: int = 0
    heldout_max_share: float = 0.2   # small catalogs (tests) hold out at most this share of the source's pairs


@dataclass(frozen=True)
class PairMinimum:
    """The fewest pairs a tower is trained and judged on (kept out of the settings, so out of the fingerprint)."""

    training: int = 80
    heldout: int = 20


class TooFewPairs(ValueError):
    """Too few usable (image, text) pairs to train the tower and score it."""


def too_few_pairs(pairs: pl.DataFrame, settings: TowerFitSettings, minimum: PairMinimum) -> str | None:
    """Why ``pairs`` are too few to train and score a tower, or None when they are enough."""
    heldout = int(heldout_mask(pairs, settings).sum())
    training = pairs.height - heldout
    if training >= minimum.training and heldout >= minimum.heldout:
        return None
    return (f"{pairs.height} usable (image, text) pairs: {training} to train (minimum {minimum.training}), "
            f"{heldout} {settings.heldout_source} pairs held out (minimum {minimum.heldout})")


TEXT_VECTORS_FILE = "text_vectors.parquet"     # in the tower's folder: the training texts' vectors, reused


@dataclass
class TowerFit:
    trained: TrainedTower
    metrics: dict[str, dict[str, float]]          # model ("image_tower", "random_tower", "ridge") -> metric -> value
    fingerprint: str
    pairs: int
    train_pairs: int
    heldout_pairs: int
    decode_failures: dict[str, int]
    timings: dict[str, float]
    text_vectors: pl.DataFrame                    # text_key, text_encoder, text_vector: reusable by the item table
    ridge_alpha: float | None = None
    readout: ReadoutChoice | None = None

    def summary(self) -> dict:
        return {"fingerprint": self.fingerprint, "pairs": self.pairs, "train_pairs": self.train_pairs,
                "heldout_pairs": self.heldout_pairs, "decode_failures": self.decode_failures,
                "timings": self.timings, "metrics": self.metrics, "ridge_alpha": self.ridge_alpha,
                "readout": asdict(self.readout) if self.readout else None,
                **self.trained.describe()}


def training_pairs(products: pl.DataFrame, primary_images: pl.DataFrame, lake_root: Path) -> pl.DataFrame:
    """``product_id, source, article_type, text, text_key, image_path, sha256``: products with a cached
    image and a non-empty text, sorted by product_id (absolute image paths)."""
    texts = product_texts(products)
    return (
        products.select("product_id", "source", "article_type")
        .join(texts, on="product_id")
        .join(primary_images.select("product_id", "image_path", "sha256"), on="product_id")
        .filter(pl.col("text_key").is_not_null(), pl.col("sha256").is_not_null())
        .with_columns(image_path=pl.lit(str(Path(lake_root))) + "/" + pl.col("image_path"))
        .sort("product_id")
    )


def heldout_mask(pairs: pl.DataFrame, settings: TowerFitSettings) -> np.ndarray:
    """Seeded choice of held-out pairs among the source's pairs with an article type (pairs sorted by id)."""
    eligible = np.flatnonzero(((pairs["source"] == settings.heldout_source)
                               & pairs["article_type"].is_not_null()).to_numpy())
    count = min(settings.heldout_pairs, int(len(eligible) * settings.heldout_max_share))
    chosen = np.random.default_rng(settings.heldout_seed).permutation(eligible)[:count]
    mask = np.zeros(pairs.height, dtype=bool)
    mask[chosen] = True
    return mask


def fit_fingerprint(pairs: pl.DataFrame, text_encoder_id: str, settings: TowerFitSettings) -> str:
    digest = hashlib.sha256(json.dumps({"code": FIT_CODE_VERSION, "text_encoder": text_encoder_id,
                                        "settings": asdict(settings)}, sort_keys=True).encode())
    for product_id, sha, key in pairs.select("product_id", "sha256", "text_key").iter_rows():
        digest.update(f"{product_id}\x00{sha}\x00{key}\n".encode())
    return digest.hexdigest()[:16]


def training_data(pairs: pl.DataFrame, text_encoder_id: str, settings: TowerFitSettings) -> TrainingData:
    """The tower's settings and one key per pair, for the retrain policy (``recsys.retraining``)."""
    keys = pairs.select(pl.concat_str(["product_id", "sha256", "text_key"], separator="|", ignore_nulls=True))
    return TrainingData(settings={"code": FIT_CODE_VERSION, "text_encoder": text_encoder_id,
                                  "settings": asdict(settings)}, keys=keys.to_series())


def decode_thumbnails(paths: list[str], height: int, width: int, workers: int) -> tuple[np.ndarray, list[str | None]]:
    """All thumbnails in one (n, height, width, 3) uint8 array; failed rows stay white, with their error."""
    images = np.full((len(paths), height, width, 3), 255, dtype=np.uint8)
    errors: list[str | None] = [None] * len(paths)
    for batch in prefetch_batches(paths, 256, lambda p: tower_thumbnail(Path(p), height, width),
                                  workers=workers, depth=2 * workers):
        if len(batch.indices):
            images[batch.indices] = batch.arrays
        for i, error in batch.errors.items():
            errors[i] = error
    return images, errors


def fit_image_tower(pairs: pl.DataFrame, text_encoder: MiniLMTextEncoder, settings: TowerFitSettings,
                    device: str = "cpu", threads: int = 2, decode_workers: int = 2, precision: str = "auto",
                    minimum: PairMinimum = PairMinimum()) -> TowerFit:
    """Train the tower on ``pairs`` (from ``training_pairs``) and score it on the held-out ones.

    Raises ``TooFewPairs`` when fewer than ``minimum`` pairs are usable (checked again after decoding)."""
    if reason := too_few_pairs(pairs, settings, minimum):
        raise TooFewPairs(reason)
    timings: dict[str, float] = {}
    text_encoder_id = f"{text_encoder.name}@{text_encoder.version}"
    fingerprint = fit_fingerprint(pairs, text_encoder_id, settings)
    cfg = settings.tower

    started = time.perf_counter()
    images, errors = decode_thumbnails(pairs["image_path"].to_list(), cfg.input_height, cfg.input_width,
                                       decode_workers)
    timings["decode_seconds"] = round(time.perf_counter() - started, 2)
    failures = Counter(e.split(":", 1)[0] for e in errors if e is not None)
    usable = np.array([e is None for e in errors], dtype=bool)
    pairs, images = pairs.filter(pl.Series(usable, dtype=pl.Boolean)), images[usable]
    log.info("decoded %d thumbnails (%d failed) in %.1fs", len(images), int((~usable).sum()), timings["decode_seconds"])
    if reason := too_few_pairs(pairs, settings, minimum):
        raise TooFewPairs(f"after {int((~usable).sum())} thumbnails failed to decode: {reason}")

    started = time.perf_counter()
    text_vectors = text_encoder.encode(pairs["text"].to_list())
    labels = sorted(set(pairs["article_type"].drop_nulls().to_list()))
    prompt_vectors = text_encoder.encode([ZERO_SHOT_PROMPT.format(label) for label in labels])
    timings["text_seconds"] = round(time.perf_counter() - started, 2)

    heldout = heldout_mask(pairs, settings)
    train_index, test_index = np.flatnonzero(~heldout), np.flatnonzero(heldout)
    test_images, test_texts = images[test_index], text_vectors[test_index]
    test_labels = pairs["article_type"].to_numpy()[test_index].tolist()

    def score(vectors: np.ndarray) -> dict[str, float]:
        return alignment_report(vectors, test_texts, test_labels, prompt_vectors, labels) if len(test_index) else {}

    trained = train_image_tower(images[train_index], text_vectors[train_index], cfg, settings.training,
                                device=device, threads=threads, precision=precision,
                                evaluate=lambda tower: score(embed_with(tower, test_images)))
    timings["train_seconds"] = round(trained.seconds, 2)

    # Text-memory readout, chosen on training pairs only (text_memory.py).
    started = time.perf_counter()
    train_keys = pairs["text_key"].to_numpy()[train_index]
    memory_keys, first = np.unique(train_keys, return_index=True)
    memory = text_vectors[train_index][first]
    tower = trained.tower
    bare_train = embed_with(tower, images[train_index], use_readout=False)
    choice = choose_readout(bare_train, text_vectors[train_index], train_keys.tolist(), memory, memory_keys.tolist(),
                            seed=settings.training.seed)
    tower.set_readout(torch.from_numpy(memory), choice.temperature, choice.mix)
    timings["readout_seconds"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    metrics = {"image_tower": score(embed_with(tower, test_images)),
               "image_tower_without_readout": score(embed_with(tower, test_images, use_readout=False)),
               "random_tower": score(random_tower_vectors(test_images, cfg, settings.training.seed))}
    ridge = RidgeBaseline(seed=settings.training.seed).fit(images[train_index], text_vectors[train_index])
    metrics["ridge"] = score(ridge.predict(test_images))
    ridge_choice = choose_readout(ridge.predict(images[train_index]), text_vectors[train_index], train_keys.tolist(),
                                  memory, memory_keys.tolist(), seed=settings.training.seed)
    metrics["ridge_with_readout"] = score(readout(
        torch.from_numpy(ridge.predict(test_images)), torch.from_numpy(memory),
        ridge_choice.temperature, ridge_choice.mix).numpy())
    if len(test_index):  # the ceiling: the held-out products' own text vectors against the prompts
        metrics["own_text_vectors"] = {"zero_shot_accuracy": round(
            zero_shot_accuracy(test_texts, test_labels, prompt_vectors, labels), 4)}
    timings["baseline_seconds"] = round(time.perf_counter() - started, 2)

    vectors = pl.DataFrame({"text_key": pairs["text_key"], "text_encoder": text_encoder_id,
                            "text_vector": text_vectors}).unique("text_key", keep="first", maintain_order=True)
    return TowerFit(trained=trained, metrics=metrics, fingerprint=fingerprint, pairs=pairs.height,
                    train_pairs=len(train_index), heldout_pairs=len(test_index), decode_failures=dict(failures),
                    timings=timings, text_vectors=vectors, ridge_alpha=ridge.alpha, readout=choice)


def save_fitted_tower(fit: TowerFit, summary: dict, folder: Path, with_files: Callable[[Path], None]) -> str:
    """The tower, its training ``summary`` and the training texts' vectors saved to ``folder`` in one
    swap, with ``with_files(staged folder)`` (the training record) among them; returns the version."""
    stage = storage.staging_dir(folder)
    version = fit.trained.tower.save_pretrained(stage, training=summary)
    storage.write_parquet_atomic(fit.text_vectors, stage / TEXT_VECTORS_FILE)
    with_files(stage)
    storage.replace_dir_atomic(stage, folder)
    return version


def saved_tower(folder: Path) -> tuple[dict, str] | None:
    """The saved tower's training summary and version, read together; None when there is none."""
    with storage.reading_dir(folder):
        if not (folder / CONFIG_FILE).exists():
            return None
        return json.loads((folder / CONFIG_FILE).read_text())["training"], (folder / "version").read_text().strip()
