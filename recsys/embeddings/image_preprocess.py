"""Image files to model inputs with Pillow and numpy (no torchvision).

Two preprocessors:
- ``tower_thumbnail``: the local image tower's input, a small uint8 HxWx3 array. JPEG "draft"
  mode decodes straight at 1/2, 1/4 or 1/8 scale, which is most of the speed of pre-decoding a
  whole catalog. The picture is resized to the tower's portrait frame (3:4, the catalog's shot
  format) without cropping: product shots fill their frame, and a crop would cut off shoes or
  collars. (It also undoes the uploader's squashing of the sample's 224x224 Myntra images.)
- ``ClipImagePreprocessor``: exactly CLIP's recipe (``CLIPImageProcessor``): shortest side to
  ``image_size`` with bicubic resampling, centre crop, scale to [0, 1], normalize with the
  OpenAI mean/std; float32 CHW.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# Images larger than this many pixels are refused before decoding (decompression bombs).
MAX_PIXELS = 40_000_000


def open_rgb(path: Path, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """An RGB image: EXIF orientation applied, transparency flattened onto white.

    ``draft_size`` (width, height) lets a JPEG decode at the smallest scale still >= that size.
    """
    image = Image.open(path)
    if image.width * image.height > MAX_PIXELS:
        raise ValueError(f"image too large to decode: {image.width}x{image.height}")
    if draft_size is not None and image.format == "JPEG":
        image.draft("RGB", draft_size)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def tower_thumbnail(path: Path, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: the whole picture resized (antialiased) into the tower's frame."""
    image = open_rgb(path, draft_size=(width, height))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


@dataclass(frozen=True)
class ClipImagePreprocessor:
    """CLIP's image preprocessing in Pillow/numpy: ``(3, crop, crop)`` float32 per file."""

    shortest_edge: int = 224
    crop_size: int = 224
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD

    def __post_init__(self) -> None:
        if self.shortest_edge < self.crop_size:
            raise ValueError(f"shortest_edge {self.shortest_edge} is smaller than crop_size {self.crop_size}")

    @classmethod
    def for_checkpoint(cls, checkpoint: Path, image_size: int) -> ClipImagePreprocessor:
        """The checkpoint's preprocessor_config.json when it has one, else CLIP's defaults at its image size."""
        config_file = Path(checkpoint) / "preprocessor_config.json"
        if not config_file.exists():
            return cls(shortest_edge=image_size, crop_size=image_size)
        config = json.loads(config_file.read_text())
        size, crop = config.get("size", image_size), config.get("crop_size", image_size)
        shortest = size.get("shortest_edge", size.get("height", image_size)) if isinstance(size, dict) else int(size)
        crop_side = crop.get("height", image_size) if isinstance(crop, dict) else int(crop)
        return cls(shortest_edge=int(shortest), crop_size=int(crop_side),
                   mean=tuple(config.get("image_mean", OPENAI_CLIP_MEAN)),
                   std=tuple(config.get("image_std", OPENAI_CLIP_STD)))

    def from_image(self, image: Image.Image) -> np.ndarray:
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)
        resized = np.asarray(image.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
        top = (resized.shape[0] - self.crop_size) // 2
        left = (resized.shape[1] - self.crop_size) // 2
        crop = resized[top:top + self.crop_size, left:left + self.crop_size] / 255.0
        crop = (crop - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)

    def __call__(self, path: Path) -> np.ndarray:
        return self.from_image(open_rgb(path))
