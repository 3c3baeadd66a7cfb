"""The fused product vector: a weighted sum of the image and text vectors, L2-normalized.

A product with only one of the two gets that one (whatever its weight), so the fused vector
is never missing. The weights are configuration: the evaluation stage tunes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FusionWeights:
    image: float = 0.5
    text: float = 0.5

    def __post_init__(self) -> None:
        if self.image < 0 or self.text < 0 or self.image + self.text == 0:
            raise ValueError(f"fusion weights must be >= 0 and not both 0, got image={self.image} text={self.text}")


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def fuse(image_vectors: np.ndarray, text_vectors: np.ndarray, weights: FusionWeights,
         fallback: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float32 unit rows from (n, d) inputs whose missing rows are NaN.

    Rows with neither input take ``fallback`` (a (d,) vector); without one they stay NaN.
    """
    has_image = np.isfinite(image_vectors).all(axis=1)
    has_text = np.isfinite(text_vectors).all(axis=1)
    image = np.where(has_image[:, None], image_vectors, 0.0)
    text = np.where(has_text[:, None], text_vectors, 0.0)
    both = (has_image & has_text)[:, None]
    mixed = np.where(both, weights.image * image + weights.text * text, image + text)
    fused = _unit(mixed.astype(np.float32))
    neither = ~(has_image | has_text)
    if neither.any():
        fused[neither] = np.nan if fallback is None else _unit(np.asarray(fallback, np.float32)[None, :])[0]
    return fused.astype(np.float32)
