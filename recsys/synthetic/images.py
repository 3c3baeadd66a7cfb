"""Procedural product photos: a silhouette per article type, painted in the product's colour and pattern.

An image encoder gets real signal from these: the silhouette says what the article is (a
T-shirt, jeans, a watch, a handbag), the paint says its colour, stripes/checks/dots say its
pattern, each with per-product jitter (scale, offset, stripe width, shading, noise) so no two
products look identical. Nothing is copied from the sample.

Shapes are data: primitives in unit coordinates on a portrait canvas. The ``body`` layer is the
product's fabric (textured); detail layers are drawn over it in a fixed tone: ``light``
(soles, dials, collars), ``dark`` (buttons, laces, lenses), ``accent`` (the second colour),
``cut`` (background colour: necklines, the gap between trouser legs).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from recsys.synthetic.catalog_rows import image_paths
from recsys.synthetic.products import product_chunk
from recsys.synthetic.vocabulary import ARTICLE_TYPES, COLOURS, PATTERNS

Point = tuple[float, float]
NOISE_TILE = 256

_TEE = [(0.3, 0.2), (0.42, 0.16), (0.58, 0.16), (0.7, 0.2), (0.88, 0.32), (0.8, 0.43), (0.7, 0.38), (0.7, 0.86),
        (0.3, 0.86), (0.3, 0.38), (0.2, 0.43), (0.12, 0.32)]
_LONG_SLEEVE = [(0.3, 0.2), (0.42, 0.15), (0.58, 0.15), (0.7, 0.2), (0.86, 0.5), (0.87, 0.8), (0.78, 0.8),
                (0.72, 0.52), (0.7, 0.88), (0.3, 0.88), (0.28, 0.52), (0.22, 0.8), (0.13, 0.8), (0.14, 0.5)]
_NECK = ("cut", "ellipse", (0.43, 0.12, 0.57, 0.21))

SHAPES: dict[str, list[tuple]] = {
    "tee": [("body", "poly", _TEE), _NECK],
    "top": [("body", "poly", [(0.34, 0.2), (0.44, 0.17), (0.56, 0.17), (0.66, 0.2), (0.78, 0.3), (0.72, 0.36),
                              (0.66, 0.33), (0.7, 0.8), (0.3, 0.8), (0.34, 0.33), (0.28, 0.36), (0.22, 0.3)]),
            ("cut", "ellipse", (0.41, 0.12, 0.59, 0.26))],
    "shirt": [("body", "poly", _LONG_SLEEVE), ("light", "poly", [(0.42, 0.15), (0.5, 0.24), (0.58, 0.15), (0.55, 0.13),
                                                                  (0.45, 0.13)]),
              ("dark", "line", [(0.5, 0.24), (0.5, 0.88)], 0.012)],
    "longsleeve": [("body", "poly", _LONG_SLEEVE), _NECK, ("dark", "rect", (0.3, 0.84, 0.7, 0.88))],
    "jacket": [("body", "poly", _LONG_SLEEVE), ("dark", "line", [(0.5, 0.18), (0.5, 0.88)], 0.02),
               ("accent", "poly", [(0.42, 0.15), (0.5, 0.4), (0.47, 0.18)]),
               ("accent", "poly", [(0.58, 0.15), (0.5, 0.4), (0.53, 0.18)])],
    "coat": [("body", "poly", [(0.3, 0.18), (0.42, 0.13), (0.58, 0.13), (0.7, 0.18), (0.85, 0.5), (0.86, 0.78),
                               (0.78, 0.78), (0.72, 0.5), (0.75, 0.96), (0.25, 0.96), (0.28, 0.5), (0.22, 0.78),
                               (0.14, 0.78), (0.15, 0.5)]),
             ("dark", "rect", (0.3, 0.5, 0.7, 0.53)), ("accent", "poly", [(0.42, 0.13), (0.5, 0.42), (0.46, 0.15)])],
    "kurta": [("body", "poly", [(0.32, 0.16), (0.43, 0.12), (0.57, 0.12), (0.68, 0.16), (0.82, 0.42), (0.74, 0.46),
                                (0.66, 0.32), (0.72, 0.95), (0.28, 0.95), (0.34, 0.32), (0.26, 0.46), (0.18, 0.42)]),
              _NECK, ("accent", "line", [(0.5, 0.2), (0.5, 0.38)], 0.015), ("accent", "rect", (0.28, 0.91, 0.72, 0.95))],
    "trousers": [("body", "poly", [(0.3, 0.1), (0.7, 0.1), (0.73, 0.93), (0.55, 0.93), (0.5, 0.36), (0.45, 0.93),
                                   (0.27, 0.93)]), ("dark", "rect", (0.3, 0.1, 0.7, 0.14))],
    "shorts": [("body", "poly", [(0.28, 0.25), (0.72, 0.25), (0.77, 0.66), (0.55, 0.68), (0.5, 0.45), (0.45, 0.68),
                                 (0.23, 0.66)]), ("dark", "rect", (0.28, 0.25, 0.72, 0.29))],
    "skirt": [("body", "poly", [(0.35, 0.18), (0.65, 0.18), (0.8, 0.78), (0.2, 0.78)]),
              ("dark", "rect", (0.35, 0.18, 0.65, 0.22))],
    "dress": [("body", "poly", [(0.38, 0.12), (0.42, 0.12), (0.44, 0.22), (0.56, 0.22), (0.58, 0.12), (0.62, 0.12),
                                (0.64, 0.4), (0.82, 0.92), (0.18, 0.92), (0.36, 0.4)]),
              ("accent", "rect", (0.36, 0.39, 0.64, 0.43))],
    "saree": [("body", "poly", [(0.35, 0.08), (0.6, 0.1), (0.72, 0.5), (0.78, 0.95), (0.22, 0.95), (0.3, 0.5)]),
              ("accent", "line", [(0.6, 0.1), (0.72, 0.5), (0.78, 0.95)], 0.05),
              ("accent", "rect", (0.22, 0.9, 0.78, 0.95))],
    "sock": [("body", "poly", [(0.38, 0.08), (0.6, 0.08), (0.6, 0.62), (0.8, 0.76), (0.78, 0.9), (0.45, 0.86),
                               (0.38, 0.7)]), ("dark", "rect", (0.38, 0.08, 0.6, 0.14))],
    "shoe": [("body", "poly", [(0.08, 0.6), (0.3, 0.48), (0.5, 0.42), (0.6, 0.48), (0.9, 0.58), (0.93, 0.68),
                               (0.08, 0.68)]), ("light", "rect", (0.06, 0.68, 0.94, 0.75)),
             ("dark", "line", [(0.42, 0.48), (0.58, 0.56)], 0.015), ("dark", "line", [(0.38, 0.52), (0.54, 0.6)], 0.015)],
    "formal_shoe": [("body", "poly", [(0.05, 0.64), (0.3, 0.55), (0.55, 0.52), (0.65, 0.56), (0.95, 0.64),
                                      (0.95, 0.68), (0.05, 0.68)]), ("dark", "rect", (0.05, 0.68, 0.95, 0.72)),
                    ("dark", "rect", (0.8, 0.68, 0.93, 0.76))],
    "heel": [("body", "poly", [(0.08, 0.72), (0.35, 0.6), (0.5, 0.62), (0.8, 0.38), (0.9, 0.4), (0.86, 0.46),
                               (0.84, 0.86), (0.8, 0.86), (0.78, 0.5), (0.5, 0.74), (0.08, 0.76)])],
    "flat": [("body", "poly", [(0.08, 0.66), (0.3, 0.58), (0.6, 0.58), (0.92, 0.64), (0.92, 0.7), (0.08, 0.7)]),
             ("light", "rect", (0.08, 0.7, 0.92, 0.73))],
    "sandal": [("dark", "rect", (0.06, 0.7, 0.94, 0.76)), ("body", "line", [(0.2, 0.7), (0.35, 0.5), (0.5, 0.7)], 0.05),
               ("body", "line", [(0.55, 0.7), (0.7, 0.52), (0.85, 0.7)], 0.05)],
    "flipflop": [("body", "ellipse", (0.3, 0.08, 0.7, 0.94)), ("dark", "line", [(0.32, 0.45), (0.5, 0.22),
                                                                                 (0.68, 0.45)], 0.035)],
    "watch": [("body", "rect", (0.4, 0.04, 0.6, 0.96)), ("light", "ellipse", (0.26, 0.3, 0.74, 0.7)),
              ("dark", "ellipse", (0.3, 0.34, 0.7, 0.66)), ("light", "ellipse", (0.32, 0.36, 0.68, 0.64)),
              ("dark", "line", [(0.5, 0.5), (0.5, 0.4)], 0.02), ("dark", "line", [(0.5, 0.5), (0.6, 0.55)], 0.02)],
    "bag": [("body", "rrect", (0.18, 0.4, 0.82, 0.86), 0.06), ("body", "line", [(0.32, 0.42), (0.38, 0.22),
                                                                               (0.62, 0.22), (0.68, 0.42)], 0.035),
            ("dark", "line", [(0.18, 0.52), (0.82, 0.52)], 0.012)],
    "backpack": [("body", "rrect", (0.25, 0.18, 0.75, 0.9), 0.12), ("accent", "rrect", (0.33, 0.55, 0.67, 0.84), 0.05),
                 ("dark", "line", [(0.4, 0.18), (0.5, 0.1), (0.6, 0.18)], 0.03)],
    "clutch": [("body", "rrect", (0.14, 0.42, 0.86, 0.7), 0.03), ("accent", "poly", [(0.14, 0.42), (0.86, 0.42),
                                                                                    (0.5, 0.58)]),
               ("light", "ellipse", (0.46, 0.54, 0.54, 0.61))],
    "duffel": [("body", "rrect", (0.08, 0.45, 0.92, 0.8), 0.15), ("dark", "line", [(0.3, 0.46), (0.4, 0.3),
                                                                                  (0.6, 0.3), (0.7, 0.46)], 0.03),
               ("dark", "line", [(0.12, 0.55), (0.88, 0.55)], 0.012)],
    "trolley": [("body", "rrect", (0.24, 0.22, 0.76, 0.88), 0.05), ("dark", "line", [(0.4, 0.22), (0.4, 0.06),
                                                                                    (0.6, 0.06), (0.6, 0.22)], 0.025),
                ("dark", "ellipse", (0.26, 0.88, 0.34, 0.95)), ("dark", "ellipse", (0.66, 0.88, 0.74, 0.95)),
                ("accent", "line", [(0.34, 0.3), (0.34, 0.8)], 0.02), ("accent", "line", [(0.66, 0.3), (0.66, 0.8)], 0.02)],
    "wallet": [("body", "rrect", (0.18, 0.36, 0.82, 0.66), 0.03), ("dark", "line", [(0.18, 0.48), (0.82, 0.48)], 0.012)],
    "belt": [("body", "rect", (0.04, 0.46, 0.96, 0.54)), ("light", "rect", (0.1, 0.43, 0.2, 0.57)),
             ("body", "rect", (0.12, 0.46, 0.18, 0.54))],
    "sunglasses": [("body", "ellipse", (0.1, 0.4, 0.47, 0.62)), ("body", "ellipse", (0.53, 0.4, 0.9, 0.62)),
                   ("body", "line", [(0.45, 0.46), (0.55, 0.46)], 0.03), ("dark", "ellipse", (0.13, 0.43, 0.44, 0.59)),
                   ("dark", "ellipse", (0.56, 0.43, 0.87, 0.59))],
    "cap": [("body", "pieslice", (0.22, 0.3, 0.78, 0.8), 180, 360), ("body", "poly", [(0.5, 0.55), (0.92, 0.55),
                                                                                      (0.88, 0.62), (0.5, 0.6)]),
            ("dark", "ellipse", (0.47, 0.28, 0.53, 0.33))],
    "tie": [("body", "poly", [(0.45, 0.08), (0.55, 0.08), (0.53, 0.16), (0.62, 0.8), (0.5, 0.92), (0.38, 0.8),
                              (0.47, 0.16)])],
    "scarf": [("body", "poly", [(0.3, 0.08), (0.7, 0.08), (0.62, 0.9), (0.44, 0.9), (0.5, 0.3), (0.38, 0.75),
                                (0.22, 0.75)]), ("accent", "rect", (0.44, 0.86, 0.62, 0.9))],
    "earrings": [("body", "ellipse", (0.2, 0.45, 0.42, 0.72)), ("body", "ellipse", (0.58, 0.45, 0.8, 0.72)),
                 ("dark", "line", [(0.31, 0.45), (0.31, 0.3)], 0.015), ("dark", "line", [(0.69, 0.45), (0.69, 0.3)], 0.015)],
    "necklace": [("body", "arc", (0.15, 0.05, 0.85, 0.7), 20, 160, 0.02), ("body", "ellipse", (0.44, 0.66, 0.56, 0.8))],
    "ring": [("body", "ellipse", (0.26, 0.34, 0.74, 0.82)), ("cut", "ellipse", (0.33, 0.41, 0.67, 0.75)),
             ("accent", "ellipse", (0.42, 0.24, 0.58, 0.4))],
    "bottle": [("body", "rrect", (0.28, 0.38, 0.72, 0.9), 0.06), ("body", "rect", (0.44, 0.26, 0.56, 0.38)),
               ("dark", "rect", (0.4, 0.14, 0.6, 0.26)), ("light", "rect", (0.34, 0.55, 0.66, 0.7))],
    "can": [("body", "rrect", (0.32, 0.22, 0.68, 0.92), 0.04), ("light", "rect", (0.38, 0.1, 0.62, 0.22)),
            ("light", "rect", (0.32, 0.5, 0.68, 0.6))],
    "lipstick": [("dark", "rect", (0.4, 0.5, 0.6, 0.9)), ("light", "rect", (0.41, 0.4, 0.59, 0.5)),
                 ("body", "poly", [(0.43, 0.4), (0.43, 0.2), (0.57, 0.14), (0.57, 0.4)])],
    "ball": [("body", "ellipse", (0.16, 0.26, 0.84, 0.8)), ("dark", "poly", [(0.5, 0.44), (0.56, 0.5), (0.54, 0.58),
                                                                               (0.46, 0.58), (0.44, 0.5)])],
}

_TONES = {"light": (236, 236, 232), "dark": (32, 30, 34)}
_RGB = np.array([rgb for rgb, _ in COLOURS.values()], dtype=np.float32)
_ARTICLE_SHAPES = [ARTICLE_TYPES[i].shape for i in range(len(ARTICLE_TYPES))]


def _draw(draw: ImageDraw.ImageDraw, primitive: tuple, fill, place, width: int) -> None:
    """Draw one primitive; line widths are fractions of the image ``width``."""
    kind, spec = primitive[1], primitive[2]
    if kind == "poly":
        draw.polygon([place(p) for p in spec], fill=fill)
    elif kind == "rect":
        draw.rectangle(place(spec[:2]) + place(spec[2:]), fill=fill)
    elif kind == "rrect":
        x0, y0 = place(spec[:2])
        x1, y1 = place(spec[2:])
        draw.rounded_rectangle((x0, y0, x1, y1), radius=max(1, int(primitive[3] * (x1 - x0 + y1 - y0))), fill=fill)
    elif kind == "ellipse":
        draw.ellipse(place(spec[:2]) + place(spec[2:]), fill=fill)
    elif kind == "pieslice":
        draw.pieslice(place(spec[:2]) + place(spec[2:]), primitive[3], primitive[4], fill=fill)
    elif kind == "arc":
        draw.arc(place(spec[:2]) + place(spec[2:]), primitive[3], primitive[4], fill=fill,
                 width=max(1, int(primitive[5] * width)))
    elif kind == "line":
        draw.line([place(p) for p in spec], fill=fill, width=max(1, int(primitive[3] * width)),
                  joint="curve")
    else:
        raise ValueError(f"unknown primitive {kind!r}")


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:height, 0:width]


@functools.lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """Sensor-like noise, drawn once per process from a fixed seed; images take random windows of it."""
    return np.random.default_rng(0).normal(0, 5, size=(2 * NOISE_TILE, 2 * NOISE_TILE, 3)).astype(np.float32)


def _texture(pattern: str, base: np.ndarray, second: np.ndarray, height: int, width: int,
             rng: np.random.Generator) -> np.ndarray:
    """The fabric: an (h, w, 3) float array in the base colour with the pattern in the second one."""
    ys, xs = _grid(height, width)
    period = int(rng.integers(4, 11))
    if pattern == "Striped":
        on = (ys // period) % 2 == 1 if rng.random() < 0.7 else (xs // period) % 2 == 1
    elif pattern == "Checked":
        on = ((ys // period) + (xs // period)) % 2 == 1
    elif pattern == "Polka Dot":
        on = ((ys % (2 * period) - period) ** 2 + (xs % (2 * period) - period) ** 2) < (period * 0.45) ** 2
    elif pattern == "Colourblocked":
        on = ys > height * rng.uniform(0.4, 0.6)
    elif pattern == "Printed":
        on = np.zeros((height, width), dtype=bool)
        for _ in range(int(rng.integers(8, 20))):
            cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(2, period)
            on |= (ys - cy) ** 2 + (xs - cx) ** 2 < r * r
    else:
        on = np.zeros((height, width), dtype=bool)
    fabric = np.where(on[..., None], second, base).astype(np.float32)
    shade = 0.82 + 0.18 * np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None, None]
    return fabric * shade


def draw_product(article: int, colour: int, colour2: int, pattern: int, size: tuple[int, int],
                 rng: np.random.Generator) -> Image.Image:
    """One product photo (RGB, ``size`` = (width, height)) on a light studio background."""
    width, height = size
    scale = rng.uniform(0.88, 1.04)
    dx, dy = rng.uniform(-0.04, 0.04, size=2)
    jitter = rng.uniform(-12, 12, size=3)

    def place(point) -> tuple[float, float]:
        return (((point[0] - 0.5) * scale + 0.5 + dx) * width, ((point[1] - 0.5) * scale + 0.5 + dy) * height)

    background = int(rng.integers(236, 252))
    base = np.clip(_RGB[colour] + jitter, 0, 255)
    second = _RGB[colour2] if colour2 != colour else 255 - base
    image = Image.new("RGB", size, (background,) * 3)
    mask = Image.new("L", size, 0)
    mask_draw = ImageDraw.Draw(mask)
    primitives = SHAPES[_ARTICLE_SHAPES[article]]
    for primitive in primitives:
        if primitive[0] == "body":
            _draw(mask_draw, primitive, 255, place, width)
    fabric = _texture(PATTERNS[pattern], base, second, height, width, rng)
    if height <= NOISE_TILE and width <= NOISE_TILE:
        y0, x0 = rng.integers(0, NOISE_TILE, size=2)
        fabric += _noise_tile()[y0:y0 + height, x0:x0 + width]
    else:
        fabric += rng.normal(0, 5, size=fabric.shape).astype(np.float32)
    image.paste(Image.fromarray(np.clip(fabric, 0, 255).astype(np.uint8), "RGB"), (0, 0), mask)
    draw = ImageDraw.Draw(image)
    tones = {**_TONES, "accent": tuple(int(v) for v in second), "cut": (background,) * 3}
    for primitive in primitives:
        if primitive[0] != "body":
            _draw(draw, primitive, tones[primitive[0]], place, width)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass(frozen=True)
class ImageJob:
    """Images ``first .. last-1`` of one product chunk. A few numbers: the worker regenerates the
    chunk and its image list from the seed, so queued jobs cost no memory."""

    seed: int
    chunk_index: int
    start: int
    stop: int
    quirk_rate: float
    first: int
    last: int
    raw_dir: str
    size: tuple[int, int]


def write_images(job: ImageJob) -> tuple[int, int]:
    """Draw and write the job's images; returns (files, bytes)."""
    chunk = product_chunk(job.seed, job.chunk_index, job.start, job.stop)
    rows = image_paths(chunk, job.seed, job.chunk_index, job.quirk_rate)[job.first:job.last]
    raw_dir = Path(job.raw_dir)
    written = 0
    for row, rel in rows:
        rng = np.random.default_rng([job.seed, 2, job.start + row])
        image = draw_product(int(chunk.article[row]), int(chunk.colour[row]), int(chunk.colour2[row]),
                             int(chunk.pattern[row]), job.size, rng)
        data = jpeg_bytes(image)
        (raw_dir / rel).write_bytes(data)
        written += len(data)
    return len(rows), written

