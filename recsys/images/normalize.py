"""Untrusted image bytes to the normalized form the encoders read (docs/lake.md: images/).

Normalized: RGB JPEG, longest side <= ``NORMALIZED_MAX_SIDE`` (aspect kept), EXIF orientation
applied. The checks run cheapest first and before any pixel is decoded: empty, magic bytes,
header (Pillow restricted to the sniffed format), pixel count (decompression bombs), then a full
decode, which is the real verification (a truncated JPEG fails here). A source that already
conforms (an upright RGB JPEG within the size) is kept byte for byte: no second lossy encode,
and no encoding time, which is the whole Myntra sample (its 225x300 and 224x224 files).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from recsys.images.outcome import ImageRejected, Status
from recsys.images.sniff import sniff_format

# 320 keeps common catalog thumbnails (Myntra's 225x300, ASOS's small sizes) byte for byte: every
# consumer resizes again anyway (the image tower to 64x48, CLIP to 224), so a second lossy encode
# down to 256 would cost CPU and quality for nothing.
NORMALIZED_MAX_SIDE = 320
JPEG_QUALITY = 90
_ORIENTATION_TAG = 0x0112
# Transparent pixels become white (a product photo's usual background), not black.
_BACKGROUND = (255, 255, 255)

# Pillow warns above its own pixel limit; max_pixels (below) decides, so keep logs clean. Set once
# for the process: warnings.catch_warnings() around each image is not thread-safe (the cache
# decodes on several threads) and rewrote the global filter list twice per image.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class NormalizedImage:
    data: bytes        # the normalized JPEG
    format: str        # the source format, sniffed
    width: int         # original size
    height: int
    reencoded: bool    # False when the source bytes were kept as they are


def normalize_image(data: bytes, max_pixels: int) -> NormalizedImage:
    """Validate ``data`` and return its normalized JPEG; raises ImageRejected with the reason."""
    if not data:
        raise ImageRejected(Status.EMPTY, "zero bytes")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageRejected(Status.NOT_IMAGE, f"magic bytes {data[:8]!r} are no accepted image format")
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide Pillow switch that would hide truncation
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images would pass as ok")
    try:
        return _decode_and_normalize(data, fmt, max_pixels)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(Status.BOMB, str(exc), fmt=fmt) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports bad data as OSError ("image file is truncated"), SyntaxError
        # (broken headers in several plugins), ValueError or EOFError.
        raise ImageRejected(Status.CORRUPT, f"{type(exc).__name__}: {exc}", fmt=fmt) from exc


def _decode_and_normalize(data: bytes, fmt: str, max_pixels: int) -> NormalizedImage:
    image = Image.open(io.BytesIO(data), formats=[fmt])
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(Status.CORRUPT, f"invalid size {width}x{height}", fmt=fmt)
    if width * height > max_pixels:
        raise ImageRejected(Status.BOMB, f"{width}x{height} = {width * height:,} pixels > {max_pixels:,}",
                            fmt=fmt, width=width, height=height)
    if fmt != "JPEG":
        # Structural checks (PNG chunk CRCs, ...). Pillow's JPEG plugin has no verify(); the full
        # decode below is its check. verify() leaves the image unusable, hence the second open.
        Image.open(io.BytesIO(data), formats=[fmt]).verify()
        image = Image.open(io.BytesIO(data), formats=[fmt])
    orientation = image.getexif().get(_ORIENTATION_TAG, 1) if "exif" in image.info else 1
    if fmt == "JPEG" and image.mode == "RGB" and orientation == 1 and max(width, height) <= NORMALIZED_MAX_SIDE:
        # The verification: libjpeg reads the whole entropy-coded stream (truncation and broken
        # markers fail here exactly as in a full decode); only the pixels, which we do not keep,
        # are reconstructed at 1/8 scale. A third less CPU on most of the Myntra sample.
        image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
        image.load()
        return NormalizedImage(data, fmt, width, height, reencoded=False)
    if fmt == "JPEG":
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the target is that much smaller.
        image.draft("RGB", (NORMALIZED_MAX_SIDE * 2, NORMALIZED_MAX_SIDE * 2))
    image.load()
    image = ImageOps.exif_transpose(image)
    image = _to_rgb(image)
    image.thumbnail((NORMALIZED_MAX_SIDE, NORMALIZED_MAX_SIDE), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return NormalizedImage(out.getvalue(), fmt, width, height, reencoded=True)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("P", "PA"):  # palette transparency becomes a real alpha channel
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, _BACKGROUND)
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")
