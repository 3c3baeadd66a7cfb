"""Image bytes for the image-cache tests: good ones, and every kind of bad one."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def jpeg(size: tuple[int, int] = (400, 300), color=(200, 30, 30), orientation: int | None = None,
         mode: str = "RGB") -> bytes:
    """A JPEG whose left half is ``color`` and right half blue (so rotations are visible)."""
    image = Image.new(mode, size, color if mode == "RGB" else 128)
    if mode == "RGB":
        image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    if orientation is None:
        image.save(out, "JPEG", quality=92)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def png(size: tuple[int, int] = (300, 300), mode: str = "RGBA") -> bytes:
    """A PNG; in RGBA its top half is fully transparent."""
    image = Image.new(mode, size, (0, 128, 0, 255) if mode == "RGBA" else (0, 128, 0))
    if mode == "RGBA":
        image.paste((0, 0, 0, 0), (0, 0, size[0], size[1] // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of width x height pixels that compresses to a few dozen kilobytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row * 1000) for _ in range(height // 1000))
    body += compressor.compress(row * (height % 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


HTML_PAGE = b"<!doctype html><html><body><h1>Access denied</h1></body></html>"


def corrupt_jpeg() -> bytes:
    """JPEG magic bytes followed by data no decoder accepts."""
    return b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4


def broken_local_files(real_jpeg: bytes) -> dict[str, tuple[bytes, str]]:
    """Every kind of broken local file (name -> bytes, the status the cache must record)."""
    return {"corrupt": (corrupt_jpeg(), "corrupt"), "truncated": (truncated(real_jpeg), "corrupt"),
            "bomb": (png_bomb(), "bomb"), "text": (b"this is not a picture\n", "not_image")}


def odd_valid_files() -> dict[str, bytes]:
    """Unusual files that are still good images (name -> bytes): the cache must accept every one."""
    return {"cmyk": jpeg(mode="CMYK"), "grayscale": jpeg(mode="L"), "exif_rotated": jpeg((200, 100), orientation=6),
            "png_named_jpg": png(mode="RGB"), "one_pixel": jpeg((1, 1))}
