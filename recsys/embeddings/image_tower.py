"""The local image tower: a small residual CNN from a product thumbnail to the text space.

Input is a uint8 NHWC batch, the layout the thumbnails are stored in; permuting it to NCHW
gives a channels_last tensor for free, the layout oneDNN's CPU convolutions are fastest on.
Pixel normalization lives inside the model so a saved tower needs nothing but its folder.

``embed`` ends with the text-memory readout (``text_memory``) once ``set_readout`` gave it the
training texts; ``forward`` is the bare network that training optimizes.

Saved as a directory (``save_pretrained`` / ``from_pretrained``): ``config.json`` (the
architecture, the readout settings and how it was trained), ``model.safetensors`` (weights and
the text memory) and ``version`` (a content hash of config + weights; it names the image
encoder, so new weights re-encode every image). A catalog with too few (image, text) pairs gets
no tower: its folder holds only ``skipped.json`` (why), and the local encoder is text-only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from recsys.embeddings.text_memory import readout
from recsys.storage import reading_dir

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VERSION_FILE = "version"
MEMORY_KEY = "text_memory"
SKIPPED_FILE = "skipped.json"


@dataclass(frozen=True)
class TowerParams:
    input_height: int = 64
    input_width: int = 48
    widths: tuple[int, ...] = (32, 64, 128, 256)
    head_hidden: int = 512
    embed_dim: int = 384
    # Catalog shots sit on white: centring on a light grey keeps inputs roughly zero-mean.
    pixel_mean: float = 200.0
    pixel_std: float = 70.0

    @classmethod
    def from_dict(cls, data: dict) -> TowerParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "widths" in known:
            known["widths"] = tuple(known["widths"])
        return cls(**known)


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ImageTower(nn.Module):
    """Stride-2 stem, then per stage a stride-2 conv and one residual block; mean pool; MLP head."""

    def __init__(self, config: TowerParams):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [_conv_bn(3, config.widths[0], 2)]
        for cin, cout in zip(config.widths, config.widths[1:]):
            layers += [_conv_bn(cin, cout, 2), _Residual(cout)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(config.widths[-1], config.head_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(config.head_hidden, config.embed_dim))
        self.to(memory_format=torch.channels_last)
        # Not in state_dict (its size varies): saved beside the weights under MEMORY_KEY; moves with .to().
        self.register_buffer("text_memory", torch.zeros(0, config.embed_dim), persistent=False)
        self.readout_temperature, self.readout_mix = 1.0, 0.0

    def set_readout(self, memory: torch.Tensor, temperature: float, mix: float) -> None:
        """Use the text-memory readout in ``embed`` (memory: unit text vectors; mix 0 disables it)."""
        self.text_memory = F.normalize(memory.float(), dim=-1).to(self.text_memory.device)
        self.readout_temperature, self.readout_mix = float(temperature), float(mix)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(n, H, W, 3) uint8 -> (n, embed_dim) unnormalized vectors."""
        x = pixels.permute(0, 3, 1, 2).float()
        x = (x - self.config.pixel_mean) / self.config.pixel_std
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))

    def embed(self, pixels: torch.Tensor, use_readout: bool = True) -> torch.Tensor:
        """L2-normalized vectors (float32), through the text-memory readout when one is set."""
        vectors = F.normalize(self(pixels).float(), dim=-1)
        if not use_readout:
            return vectors
        return readout(vectors, self.text_memory, self.readout_temperature, self.readout_mix)

    def save_pretrained(self, directory: Path, training: dict | None = None) -> str:
        """Write config, weights and version into ``directory``; returns the version."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        state[MEMORY_KEY] = self.text_memory.detach().cpu().contiguous()
        save_file(state, directory / WEIGHTS_FILE)
        config = {"architecture": "ImageTower", **asdict(self.config),
                  "readout": {"temperature": self.readout_temperature, "mix": self.readout_mix,
                              "memory_rows": len(self.text_memory)},
                  "training": training or {}}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
        version = tower_fingerprint(directory)
        (directory / VERSION_FILE).write_text(version + "\n")
        return version

    @classmethod
    def from_pretrained(cls, directory: Path) -> ImageTower:
        with reading_dir(Path(directory)) as directory:
            if not (directory / WEIGHTS_FILE).exists():
                raise FileNotFoundError(
                    f"no trained image tower in {directory}: materialize the models/image_tower asset "
                    "(or choose the clip encoder backend)")
            saved = json.loads((directory / CONFIG_FILE).read_text())
            state = load_file(directory / WEIGHTS_FILE)
        tower = cls(TowerParams.from_dict(saved))
        memory = state.pop(MEMORY_KEY, None)
        tower.load_state_dict(state)
        if memory is not None and "readout" in saved:
            tower.set_readout(memory, saved["readout"]["temperature"], saved["readout"]["mix"])
        return tower.eval()


def tower_fingerprint(directory: Path) -> str:
    """Hash of the architecture and the weights: the tower's version."""
    config = json.loads((Path(directory) / CONFIG_FILE).read_text())
    architecture = {k: v for k, v in config.items() if k != "training"}
    digest = hashlib.sha256(json.dumps(architecture, sort_keys=True).encode())
    digest.update((Path(directory) / WEIGHTS_FILE).read_bytes())
    return digest.hexdigest()[:12]


def read_version(directory: Path) -> str | None:
    path = Path(directory) / VERSION_FILE
    return path.read_text().strip() if path.exists() else None


def write_skipped(directory: Path, reason: str, details: dict) -> None:
    """Mark ``directory`` as the folder of a tower that was not trained, and why."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SKIPPED_FILE).write_text(json.dumps({"reason": reason, **details}, indent=2, sort_keys=True))


def read_skipped(directory: Path) -> dict | None:
    """Why no tower was trained into ``directory`` (``write_skipped``), or None when it was not skipped."""
    with reading_dir(Path(directory)) as directory:
        path = directory / SKIPPED_FILE
        return json.loads(path.read_text()) if path.exists() else None
