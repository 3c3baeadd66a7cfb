"""The image format from the first bytes, never from a file extension or a Content-Type header.

Only formats product photos come in are accepted; everything else (HTML error pages served as
``image/jpeg``, SVG with scripts, PDFs, archives) is ``not_image`` before Pillow sees it.
"""

from __future__ import annotations

# (Pillow format name, test on the leading bytes)
_SIGNATURES = (
    ("JPEG", lambda head: head[:3] == b"\xff\xd8\xff"),
    ("PNG", lambda head: head[:8] == b"\x89PNG\r\n\x1a\n"),
    ("GIF", lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    ("WEBP", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
)

SNIFF_BYTES = 16
ACCEPTED_FORMATS: tuple[str, ...] = tuple(name for name, _ in _SIGNATURES)


def sniff_format(data: bytes) -> str | None:
    """``JPEG``, ``PNG``, ``GIF`` or ``WEBP`` when the magic bytes say so, else None."""
    head = data[:SNIFF_BYTES]
    for name, matches in _SIGNATURES:
        if matches(head):
            return name
    return None
