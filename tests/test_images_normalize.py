"""Untrusted bytes to normalized JPEGs: sniffing, limits, verification, orientation, colour."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from recsys.images import NORMALIZED_MAX_SIDE, Status, normalize_image
from recsys.images.outcome import ImageRejected
from recsys.images.sniff import sniff_format
from tests.image_samples import HTML_PAGE, jpeg, png, png_bomb, truncated

LIMIT = 40_000_000


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _rejected(data: bytes, max_pixels: int = LIMIT) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        normalize_image(data, max_pixels)
    return caught.value


@pytest.mark.parametrize(("data", "expected"), [
    (jpeg(), "JPEG"), (png(), "PNG"), (b"GIF89a" + b"\0" * 20, "GIF"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "WEBP"), (HTML_PAGE, None), (b"%PDF-1.7", None), (b"", None),
])
def test_format_comes_from_magic_bytes(data, expected):
    assert sniff_format(data) == expected


def test_large_jpeg_is_shrunk_to_the_maximum_side_keeping_aspect_and_original_size():
    result = normalize_image(jpeg((1200, 900)), LIMIT)
    image = _decoded(result.data)
    assert (result.width, result.height, result.format, result.reencoded) == (1200, 900, "JPEG", True)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert image.size == (NORMALIZED_MAX_SIDE, NORMALIZED_MAX_SIDE * 3 // 4)


def test_conforming_jpeg_is_kept_byte_for_byte():
    data = jpeg((224, 224))
    result = normalize_image(data, LIMIT)
    assert result.data == data and not result.reencoded


def test_exif_orientation_is_applied():
    # Orientation 6: the stored pixels must be rotated 90° clockwise to display upright.
    result = normalize_image(jpeg((200, 100), orientation=6), LIMIT)
    image = _decoded(result.data)
    assert image.size == (100, 200)
    assert (result.width, result.height) == (200, 100)  # the original, as stored
    top_pixel = image.getpixel((50, 10))
    assert top_pixel[0] > 150 and top_pixel[2] < 100  # the red half ends up on top


def test_transparent_png_gets_a_white_background_and_becomes_jpeg():
    result = normalize_image(png((300, 300)), LIMIT)
    image = _decoded(result.data)
    assert result.format == "PNG" and image.format == "JPEG" and image.mode == "RGB"
    assert min(image.getpixel((128, 10))) > 240          # transparent half: white, not black
    assert image.getpixel((128, 250))[1] > 100           # opaque half keeps its green


def test_grayscale_becomes_rgb():
    assert _decoded(normalize_image(jpeg((300, 300), mode="L"), LIMIT).data).mode == "RGB"


@pytest.mark.parametrize(("data", "status"), [
    (b"", Status.EMPTY),
    (HTML_PAGE, Status.NOT_IMAGE),
    (b"\x00" * 1000, Status.NOT_IMAGE),
    (truncated(jpeg()), Status.CORRUPT),
    (truncated(png()), Status.CORRUPT),
    (jpeg()[:200], Status.CORRUPT),
    (png_bomb(), Status.BOMB),
])
def test_bad_bytes_are_rejected_with_their_status(data, status):
    assert _rejected(data).status is status


def test_truncated_conforming_jpeg_is_caught_by_the_verification():
    data = jpeg((224, 224))
    assert _rejected(data[: len(data) - 300]).status is Status.CORRUPT


def test_pixel_limit_is_checked_before_decoding_and_keeps_the_claimed_size():
    rejected = _rejected(jpeg((400, 300)), max_pixels=100_000)
    assert rejected.status is Status.BOMB
    assert (rejected.width, rejected.height) == (400, 300)


def test_png_with_a_broken_chunk_checksum_is_corrupt():
    data = bytearray(png((64, 64), mode="RGB"))
    data[45] ^= 0xFF  # inside the IDAT payload (signature 8 + IHDR 25 + IDAT header 8): CRC mismatch
    assert _rejected(bytes(data)).status is Status.CORRUPT
