"""Reference points for the trained image tower, scored on the same held-out pairs.

- random tower: the same architecture with its seeded initial weights, never trained. It
  shows what the architecture alone gives (about chance: its vectors are not in the text space).
- ridge: no deep training at all. Each image becomes a joint RGB colour histogram plus its
  downsampled pixels; a ridge regression maps those features onto the text vectors. The ridge
  strength is chosen on a validation slice of the training pairs, never on the held-out ones.
"""

from __future__ import annotations

import numpy as np
import torch

from recsys.embeddings.alignment_metrics import recall_at_k
from recsys.embeddings.image_tower import ImageTower, TowerParams

HISTOGRAM_BINS = 4          # per channel: 4 x 4 x 4 = 64 joint colour bins
PIXEL_GRID = (16, 12)       # downsampled picture, (height, width)
FEATURE_CHUNK = 4096        # images featurized at a time
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0)


def embed_with(tower: ImageTower, images: np.ndarray, batch_size: int = 512, use_readout: bool = True) -> np.ndarray:
    """L2-normalized vectors of uint8 NHWC ``images`` (float32 inference)."""
    tower.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
            out.append(tower.embed(batch, use_readout=use_readout).numpy())
    return np.concatenate(out) if out else np.zeros((0, tower.config.embed_dim), np.float32)


def random_tower_vectors(images: np.ndarray, tower_config: TowerParams, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    return embed_with(ImageTower(tower_config), images)


def colour_pixel_features(images: np.ndarray, chunk: int = FEATURE_CHUNK) -> np.ndarray:
    """(n, 64 + 16*12*3) float32: joint colour histogram (shares) and block-averaged pixels in [0, 1].

    Computed ``chunk`` images at a time: the intermediates are several times the uint8 images, so
    all of a large catalog's thumbnails at once would dominate the step's memory."""
    parts = [_colour_pixel_features(images[start:start + chunk]) for start in range(0, len(images), chunk)]
    return np.concatenate(parts) if parts else _colour_pixel_features(images)


def _colour_pixel_features(images: np.ndarray) -> np.ndarray:
    n, height, width, _ = images.shape
    quantized = (images.astype(np.int32) * HISTOGRAM_BINS) // 256
    codes = (quantized[..., 0] * HISTOGRAM_BINS + quantized[..., 1]) * HISTOGRAM_BINS + quantized[..., 2]
    bins = HISTOGRAM_BINS ** 3
    rows = np.arange(n, dtype=np.int64)[:, None] * bins
    histogram = np.bincount((codes.reshape(n, height * width) + rows).ravel(), minlength=n * bins).reshape(n, bins)
    histogram = histogram.astype(np.float32) / (height * width)
    grid_h, grid_w = PIXEL_GRID
    cropped = images[:, : height - height % grid_h, : width - width % grid_w].astype(np.float32) / 255.0
    blocks = cropped.reshape(n, grid_h, cropped.shape[1] // grid_h, grid_w, cropped.shape[2] // grid_w, 3)
    return np.concatenate([histogram, blocks.mean(axis=(2, 4)).reshape(n, grid_h * grid_w * 3)], axis=1)


class RidgeBaseline:
    """Standardized colour/pixel features -> text vectors by ridge regression (closed form)."""

    def __init__(self, alphas: tuple[float, ...] = RIDGE_ALPHAS, validation_fraction: float = 0.1, seed: int = 0):
        self.alphas, self.validation_fraction, self.seed = alphas, validation_fraction, seed
        self.alpha: float | None = None

    def _fit(self, features: np.ndarray, targets: np.ndarray, alpha: float) -> None:
        self.mean, self.scale = features.mean(axis=0), features.std(axis=0) + 1e-6
        x = np.hstack([(features - self.mean) / self.scale, np.ones((len(features), 1), np.float32)])
        gram = x.T @ x + alpha * np.eye(x.shape[1], dtype=np.float32)
        self.weights = np.linalg.solve(gram.astype(np.float64), (x.T @ targets).astype(np.float64)).astype(np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = (colour_pixel_features(images) - self.mean) / self.scale
        y = np.hstack([x, np.ones((len(x), 1), np.float32)]) @ self.weights
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)

    def fit(self, images: np.ndarray, text_vectors: np.ndarray) -> RidgeBaseline:
        features = colour_pixel_features(images)
        order = np.random.default_rng(self.seed).permutation(len(images))
        n_val = max(int(len(images) * self.validation_fraction), 1)
        val, train = order[:n_val], order[n_val:]
        scores = {}
        for alpha in self.alphas:
            self._fit(features[train], text_vectors[train], alpha)
            scores[alpha] = recall_at_k(text_vectors[val], self.predict(images[val]), (10,))[10]
        self.alpha = max(scores, key=lambda a: (scores[a], -a))
        self._fit(features, text_vectors, self.alpha)
        return self
