"""A Hugging Face CLIP checkpoint as the encoder: one model for images and texts.

``CLIPModel.from_pretrained(name_or_path)`` with its tokenizer, and the image preprocessing
redone in Pillow/numpy (``ClipImagePreprocessor``; no torchvision). Works with any CLIP
checkpoint folder or a hub id already in the local cache; without one it fails with
``ClipCheckpointMissing``, whose message says how to get the weights or switch backend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from recsys.embeddings.encoder import Encoder
from recsys.embeddings.image_preprocess import ClipImagePreprocessor

DEFAULT_CLIP = "openai/clip-vit-base-patch32"


class ClipCheckpointMissing(RuntimeError):
    """The CLIP checkpoint could not be loaded (not on disk, not cached, no network)."""


def _missing_message(name_or_path: str, reason: str) -> str:
    return (
        f"CLIP checkpoint {name_or_path!r} could not be loaded: {reason}\n"
        "Either get the checkpoint onto this machine, e.g. on a machine with internet\n"
        f"  python -c \"from transformers import CLIPModel, AutoTokenizer; "
        f"[c.from_pretrained('{DEFAULT_CLIP}').save_pretrained('clip-vit-b32') for c in (CLIPModel, AutoTokenizer)]\"\n"
        "  (or: hf download openai/clip-vit-base-patch32 --local-dir clip-vit-b32)\n"
        "and set the encoder resource's clip_name_or_path to that folder; or use backend='local', "
        "the offline default (MiniLM text vectors + the catalog-trained image tower)."
    )


def load_clip(name_or_path: str, allow_download: bool = True):
    """(model, tokenizer, checkpoint folder or None), or ``ClipCheckpointMissing``.

    A folder is loaded as is; a hub id from the local Hugging Face cache first, and from the hub
    only when ``allow_download`` (an unreachable hub costs several retries before it fails).
    """
    from transformers import AutoTokenizer, CLIPModel

    folder = Path(name_or_path) if Path(name_or_path).is_dir() else None
    attempts = [True] if folder or not allow_download else [True, False]
    reason = ""
    for local_only in attempts:
        try:
            model = CLIPModel.from_pretrained(name_or_path, local_files_only=local_only)
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_only)
            return model.eval(), tokenizer, folder
        except (OSError, ValueError) as exc:  # missing folder/files, not cached, hub unreachable, not CLIP
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    raise ClipCheckpointMissing(_missing_message(name_or_path, reason))


def state_fingerprint(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer: names the exact weights, wherever they came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def _features(output) -> torch.Tensor:
    """transformers >= 5 returns an output object with the projected vectors in pooler_output; older a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class ClipEncoder(Encoder):
    def __init__(self, name_or_path: str = DEFAULT_CLIP, device: str = "cpu", text_batch_size: int = 256,
                 image_batch_size: int = 64, decode_workers: int = 1, allow_download: bool = True):
        self.model, self.tokenizer, folder = load_clip(name_or_path, allow_download)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.name = f"clip:{Path(name_or_path).name if folder else name_or_path}"
        self.version = state_fingerprint(self.model)
        self.dimension = int(self.model.config.projection_dim)
        self.text_batch_size, self.image_batch_size, self.decode_workers = text_batch_size, image_batch_size, decode_workers
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)
        image_size = int(self.model.config.vision_config.image_size)
        self.preprocess = (ClipImagePreprocessor.for_checkpoint(folder, image_size) if folder
                           else ClipImagePreprocessor(image_size, image_size))

    @property
    def text_encoder_id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def image_encoder_id(self) -> str:
        return f"{self.name}@{self.version}"

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(order), self.text_batch_size):
            idx = order[start:start + self.text_batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            features = _features(self.model.get_text_features(input_ids=batch["input_ids"],
                                                              attention_mask=batch["attention_mask"]))
            out[idx] = F.normalize(features.float(), dim=-1).cpu().numpy()
        return out

    def load_image(self, path: Path) -> np.ndarray:
        return self.preprocess(path)

    @torch.inference_mode()
    def embed_image_batch(self, batch: np.ndarray) -> np.ndarray:
        pixels = torch.from_numpy(batch).to(self.device)
        return F.normalize(_features(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1).cpu().numpy()
