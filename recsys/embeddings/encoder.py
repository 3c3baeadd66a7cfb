"""The interface every encoder backend answers: texts and images to vectors in one space.

An encoder maps texts and images into one L2-normalized space of ``dimension`` floats, so a
text can find images and an image can find texts. Image encoding is shared by the backends:
a worker thread decodes and preprocesses the next batches (Pillow releases the GIL) while the
main thread runs the model on the current one, so decoding hides behind inference.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.embeddings.prefetch import prefetch_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageVectors:
    """Vectors for a list of image files; rows of failed files are NaN and their error says why."""

    vectors: np.ndarray          # (n, dimension) float32
    errors: list[str | None]     # None where the image was encoded
    seconds: float
    decode_wait_seconds: float   # time the model waited for decoded batches (0 = decoding fully hidden)

    @property
    def ok(self) -> np.ndarray:
        return np.array([e is None for e in self.errors], dtype=bool)

    @property
    def items_per_second(self) -> float:
        return len(self.errors) / self.seconds if self.seconds > 0 else 0.0


class Encoder(ABC):
    """Texts and images to L2-normalized float32 vectors of one shared space.

    ``text_encoder_id`` and ``image_encoder_id`` name the model (name@version) behind each
    modality; a stored vector is reused only while the id it was computed with is unchanged.
    """

    name: str
    version: str
    dimension: int
    image_batch_size: int = 64
    decode_workers: int = 1
    no_images_reason: str | None = None
    """Set when this encoder has no image model (e.g. the catalog had too few images to train one):
    products are then embedded from their text alone and no image is encoded."""

    @property
    @abstractmethod
    def text_encoder_id(self) -> str: ...

    @property
    @abstractmethod
    def image_encoder_id(self) -> str: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32, rows L2-normalized."""

    @abstractmethod
    def load_image(self, path: Path) -> np.ndarray:
        """Decode and preprocess one file into the array ``embed_image_batch`` stacks (worker thread)."""

    @abstractmethod
    def embed_image_batch(self, batch: np.ndarray) -> np.ndarray:
        """Vectors for a stacked batch of ``load_image`` arrays: (len(batch), dimension), L2-normalized."""

    def encode_images(self, paths: Sequence[Path], progress_every: int = 2_000) -> ImageVectors:
        """Vectors for image files, decoding on a worker thread overlapped with inference."""
        vectors = np.full((len(paths), self.dimension), np.nan, dtype=np.float32)
        errors: list[str | None] = [None] * len(paths)
        started, waited, done, next_report = time.perf_counter(), 0.0, 0, progress_every
        batches = prefetch_batches(paths, self.image_batch_size, self.load_image, workers=self.decode_workers)
        while True:
            wait_started = time.perf_counter()
            batch = next(batches, None)
            waited += time.perf_counter() - wait_started
            if batch is None:
                break
            for i, error in batch.errors.items():
                errors[i] = error
            if len(batch.indices):
                vectors[batch.indices] = self.embed_image_batch(batch.arrays)
            done += batch.size
            if done >= next_report or done == len(paths):
                rate = done / max(time.perf_counter() - started, 1e-9)
                log.info("image vectors: %d/%d (%.0f images/s)", done, len(paths), rate)
                next_report += progress_every
        return ImageVectors(vectors, errors, time.perf_counter() - started, waited)

    def describe(self) -> dict[str, object]:
        return {"encoder": self.name, "encoder_version": self.version, "dimension": self.dimension,
                "text_encoder": self.text_encoder_id, "image_encoder": self.image_encoder_id}
