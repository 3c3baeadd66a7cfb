"""Contrastive (CLIP-style InfoNCE) training of the image tower against fixed text vectors.

The text side is frozen (all-MiniLM-L6-v2), so image vectors learn to land next to the text
vector of their own product: the space stays MiniLM's, text-only products need no mapping,
and zero-shot prompts are ordinary MiniLM sentences. Each batch of (image, text) pairs is a
softmax classification in both directions (image -> its text among the batch's texts, text ->
its image), with a learned temperature, as in CLIP (Radford et al. 2021).

Speed on a CPU comes from the data path as much as from the model: all thumbnails are decoded
once into one uint8 array, augmentation is a flip and a small shift done on whole batches of
uint8 tensors, and where the CPU has bfloat16 matrix units (AMX / AVX512-BF16) or a GPU is
present the forward and backward passes run under bfloat16 autocast.

Deterministic given the seed (and the device, thread count and precision): the parameter init
and every batch order and augmentation draw come from seeded generators.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from recsys.cpu_limit import resolve_threads
from recsys.embeddings.image_tower import ImageTower, TowerParams
from recsys.embeddings.precision import use_bf16

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TowerTrainingParams:
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.15
    initial_temperature: float = 0.07
    max_shift_fraction: float = 1 / 16
    seed: int = 0


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    seconds: float
    images_per_second: float
    temperature: float
    heldout: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainedTower:
    tower: ImageTower
    curve: list[EpochRecord]
    seconds: float
    precision: str
    device: str
    threads: int

    def describe(self) -> dict:
        return {"seconds": round(self.seconds, 1), "precision": self.precision, "device": self.device,
                "threads": self.threads, "epochs": len(self.curve),
                "curve": [asdict(r) for r in self.curve]}


def _augment(batch: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips per image and one random shift per batch (white fill), on uint8 NHWC."""
    n, height, width, _ = batch.shape
    flip = torch.rand(n, generator=generator, device="cpu").to(batch.device) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(2), batch)
    if max_shift == 0:
        return batch
    canvas = torch.full((n, height + 2 * max_shift, width + 2 * max_shift, 3), 255, dtype=batch.dtype,
                        device=batch.device)
    canvas[:, max_shift:max_shift + height, max_shift:max_shift + width] = batch
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return canvas[:, dy:dy + height, dx:dx + width]


def clip_loss(image_vectors: torch.Tensor, text_vectors: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of L2-normalized pairs (row i of each is one product)."""
    logits = logit_scale * image_vectors @ text_vectors.T
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def train_image_tower(images: np.ndarray, text_vectors: np.ndarray, tower_config: TowerParams,
                      config: TowerTrainingParams, device: str = "cpu", threads: int = 2, precision: str = "auto",
                      evaluate: Callable[[ImageTower], dict[str, float]] | None = None) -> TrainedTower:
    """Train a tower on pairs (``images[i]`` uint8 HxWx3, ``text_vectors[i]`` L2-normalized).

    ``evaluate`` (called after each epoch, model in eval mode) fills the curve's held-out metrics.
    """
    if len(images) < 2:
        raise ValueError(f"contrastive training needs at least 2 (image, text) pairs, got {len(images)}")
    torch_device = torch.device(device)
    bf16 = use_bf16(precision, torch_device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(threads))
    try:
        with threadpool_limits(threads):
            return _train(images, text_vectors, tower_config, config, torch_device, threads, bf16, evaluate)
    finally:
        torch.set_num_threads(previous_threads)


def _train(images, text_vectors, tower_config, config, device, threads, bf16, evaluate) -> TrainedTower:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    tower = ImageTower(tower_config).to(device)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / config.initial_temperature), device=device))
    optimizer = torch.optim.AdamW([*tower.parameters(), logit_scale], lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    pixels = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    texts = torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32)).to(device)
    n = len(pixels)
    batch_size = min(config.batch_size, n)
    steps_per_epoch = n // batch_size  # full batches only: InfoNCE's difficulty depends on the batch size
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=total_steps, pct_start=config.warmup_fraction)
    max_shift = int(round(min(tower_config.input_height, tower_config.input_width) * config.max_shift_fraction))
    curve: list[EpochRecord] = []
    started = time.perf_counter()
    log.info("training image tower: %d pairs, %d epochs x %d steps of %d, %s, %d threads, %s",
             n, config.epochs, steps_per_epoch, batch_size, device, threads, "bf16" if bf16 else "fp32")
    for epoch in range(config.epochs):
        tower.train()
        epoch_started, losses = time.perf_counter(), []
        order = torch.randperm(n, generator=generator).to(device)
        for step in range(steps_per_epoch):
            index = order[step * batch_size:(step + 1) * batch_size]
            batch = _augment(pixels[index], max_shift, generator)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = tower(batch)
            loss = clip_loss(F.normalize(out.float(), dim=-1), texts[index], logit_scale.exp().clamp(max=100.0))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - epoch_started
        tower.eval()
        record = EpochRecord(epoch=epoch + 1, loss=float(np.mean(losses)), seconds=round(seconds, 2),
                             images_per_second=round(steps_per_epoch * batch_size / seconds, 1),
                             temperature=round(float(1 / logit_scale.detach().exp()), 4),
                             heldout=evaluate(tower) if evaluate else {})
        curve.append(record)
        log.info("epoch %d/%d: loss %.3f, %.0f images/s, %s", record.epoch, config.epochs, record.loss,
                 record.images_per_second, record.heldout)
    tower.eval()
    return TrainedTower(tower.cpu(), curve, time.perf_counter() - started,
                        "bf16" if bf16 else "fp32", str(device), threads)
