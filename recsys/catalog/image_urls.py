"""Image references in raw rows: Python-literal lists, JSON lists, or one URL/path.

Only http, https and file URLs survive. A file URL or a relative path must resolve inside
the raw folder; anything that escapes it (``../``, symlinks out, ``/etc/passwd``) is dropped.
Parsing never evaluates code: ``ast.literal_eval`` accepts literals only, and input is capped.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_IMAGE_FIELD_CHARS = 20_000
MAX_IMAGES_PER_PRODUCT = 16
_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)\"""")


@dataclass
class ImageUrlReport:
    """Why image references were dropped, counted over a whole load (shown as metadata)."""

    dropped: Counter = field(default_factory=Counter)


def split_image_field(raw: str | None) -> list[str]:
    """The list of strings in an image field, however the exporter wrote it."""
    if raw is None:
        return []
    text = raw.strip()[:MAX_IMAGE_FIELD_CHARS]
    if not text:
        return []
    if text[0] in "[(":
        for loader in (json.loads, ast.literal_eval):
            try:
                value = loader(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, (list, tuple)):
                return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
        # A truncated or otherwise broken literal: keep the quoted strings we can see.
        return [a or b for a, b in _QUOTED.findall(text) if (a or b).strip()]
    if "," in text and not text.startswith(("http://", "https://", "file:")):
        return [part.strip() for part in text.split(",") if part.strip()]
    return [text]


def normalize_image_ref(ref: str, raw_root: Path, base_dir: Path, report: ImageUrlReport) -> str | None:
    """An allowed URL for ``ref`` (http/https as given, local files as file:// URIs), or None."""
    parts = urlsplit(ref)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            report.dropped["http url without host"] += 1
            return None
        return ref
    if scheme == "file":
        candidate = Path(unquote(parts.path))
    elif scheme == "" or (len(scheme) == 1 and ref[1:3] in (":\\", ":/")):
        candidate = Path(unquote(ref))
    else:
        report.dropped[f"scheme {scheme!r} not allowed"] += 1
        return None
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    resolved = candidate.resolve()
    root = raw_root.resolve()
    if not resolved.is_relative_to(root):
        report.dropped["path escapes the raw folder"] += 1
        return None
    return resolved.as_uri()


def parse_image_urls(raw: str | None, raw_root: Path, base_dir: Path, report: ImageUrlReport) -> list[str]:
    """Allowed, de-duplicated image URLs in their original order."""
    urls: list[str] = []
    for ref in split_image_field(raw):
        url = normalize_image_ref(ref, raw_root, base_dir, report)
        if url is not None and url not in urls:
            urls.append(url)
    if len(urls) > MAX_IMAGES_PER_PRODUCT:
        report.dropped["more than %d images" % MAX_IMAGES_PER_PRODUCT] += len(urls) - MAX_IMAGES_PER_PRODUCT
        urls = urls[:MAX_IMAGES_PER_PRODUCT]
    return urls
