"""The offline default encoder: all-MiniLM-L6-v2 for texts, the catalog-trained tower for images.

Both land in MiniLM's 384-d sentence space (the tower was trained into it), so text-only
products need no mapping and texts find images directly. When the models/image_tower asset
skipped training (too few pairs: ``image_tower.read_skipped``), the encoder is text-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from recsys.embeddings.encoder import Encoder
from recsys.embeddings.image_preprocess import tower_thumbnail
from recsys.embeddings.image_tower import ImageTower, read_skipped, read_version, tower_fingerprint
from recsys.embeddings.minilm import DIMENSION, MiniLMTextEncoder

IMAGE_TOWER_NAME = "image-tower"
NO_TOWER_VERSION = "none"


class LocalEncoder(Encoder):
    name = "local"
    dimension = DIMENSION

    def __init__(self, tower_dir: Path, text_model_dir: Path | None = None, device: str = "cpu",
                 text_batch_size: int = 128, image_batch_size: int = 256, decode_workers: int = 1,
                 text_encoder: MiniLMTextEncoder | None = None):
        self.text = text_encoder or MiniLMTextEncoder(text_model_dir, device=device, batch_size=text_batch_size)
        skipped = read_skipped(tower_dir)
        if skipped is None:
            self.tower: ImageTower | None = ImageTower.from_pretrained(tower_dir).to(device)
            self.tower_version = read_version(tower_dir) or tower_fingerprint(tower_dir)
        else:
            self.tower, self.tower_version = None, NO_TOWER_VERSION
            self.no_images_reason = f"no image tower was trained: {skipped['reason']}"
        self.device = torch.device(device)
        self.version = f"{self.text.version}+{self.tower_version}"
        self.image_batch_size, self.decode_workers = image_batch_size, decode_workers

    @property
    def text_encoder_id(self) -> str:
        return f"{self.text.name}@{self.text.version}"

    @property
    def image_encoder_id(self) -> str:
        return f"{IMAGE_TOWER_NAME}@{self.tower_version}"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.text.encode(list(texts))

    def load_image(self, path: Path) -> np.ndarray:
        if self.tower is None:
            raise RuntimeError(self.no_images_reason)
        config = self.tower.config
        return tower_thumbnail(path, config.input_height, config.input_width)

    @torch.inference_mode()
    def embed_image_batch(self, batch: np.ndarray) -> np.ndarray:
        return self.tower.embed(torch.from_numpy(batch).to(self.device)).cpu().numpy()
