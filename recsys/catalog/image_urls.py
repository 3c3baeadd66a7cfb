"""Image references in raw rows: Python-literal lists, JSON lists, or one URL/path.

Only http(s) URLs and local files inside the raw folder survive. A local file is stored as a
lake-relative path, ``raw/myntra/images/10000.jpg`` (never a ``file://`` URI), so a lake copied or
mounted elsewhere yields the same references and no table holds the build machine's paths; the
image cache resolves them against its lake (recsys/images/local.py). A file URI or path must
resolve inside raw/ (symlinks followed, ``..`` collapsed): an absolute path outside it
(``file:///etc/passwd``, ``C:\\x.jpg``, ``\\\\host\\share``) is refused, never re-rooted, as is
a file URI on another host or without an absolute path.

Parsing never evaluates code: ``ast.literal_eval`` accepts literals only, input is capped, and a
field that holds anything but URL strings (code, numbers, dicts) yields no reference for those
parts. A local reference names a file with an extension and holds no quotes, brackets or shell
characters; an http(s) reference holds none of the characters a URL must escape.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from recsys.catalog.text import null_if_missing
from recsys.images.local import RAW_FOLDER

MAX_IMAGE_FIELD_CHARS = 20_000
MAX_IMAGES_PER_PRODUCT = 16
_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)\"""")
# A list literal cut short: quoted strings and commas only, the last string possibly unterminated.
_TRUNCATED_LIST = re.compile(r"""[\[(]\s*(?:(?:'[^']*'|"[^"]*")\s*,\s*)*(?:'[^']*|"[^"]*)?""")
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
_NOT_IN_URL = re.compile(r"""[\s"<>{}|\\^`]""")
_NOT_IN_FILE_NAME = re.compile(r"""[\x00-\x1f"'`<>{}\[\]|;$]""")
_FILE_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")

DROP_NOT_STRINGS = "image list holds a non-string item"
DROP_NOT_A_LIST = "image field is not a list of strings"
DROP_NOT_A_REFERENCE = "not a URL or file name"
DROP_OUTSIDE_RAW = "path escapes the raw folder"


@dataclass
class ImageUrlReport:
    """Why image references were dropped, counted over a whole load (shown as metadata)."""

    dropped: Counter = field(default_factory=Counter)


def split_image_field(raw: str | None, report: ImageUrlReport) -> list[str]:
    """The list of strings in an image field, however the exporter wrote it."""
    text = null_if_missing(raw)
    if text is None:
        return []
    if len(text) > MAX_IMAGE_FIELD_CHARS:
        report.dropped[f"image field over {MAX_IMAGE_FIELD_CHARS:,} characters, cut"] += 1
        text = text[:MAX_IMAGE_FIELD_CHARS]
    if text[0] in "[(":
        return _list_items(text, report)
    if text[0] == "{":
        report.dropped[DROP_NOT_A_LIST] += 1
        return []
    if "," in text and not text.startswith(("http://", "https://", "file:")):
        return [part.strip() for part in text.split(",") if part.strip()]
    return [text]


def _list_items(text: str, report: ImageUrlReport) -> list[str]:
    for loader in (json.loads, ast.literal_eval):
        try:
            value = loader(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if not isinstance(value, (list, tuple)):
            break
        strings = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if others := sum(not isinstance(v, str) for v in value):
            report.dropped[DROP_NOT_STRINGS] += others
        return strings
    if _TRUNCATED_LIST.fullmatch(text):
        # A list cut short: keep its complete quoted strings.
        return [a or b for a, b in _QUOTED.findall(text) if (a or b).strip()]
    report.dropped[DROP_NOT_A_LIST] += 1
    return []


def normalize_image_ref(ref: str, raw_root: Path, base_dir: Path, report: ImageUrlReport) -> str | None:
    """The stored reference for ``ref``: an http(s) URL as given, a local file as its lake-relative
    path (``raw/...``); None (counted) when it is not allowed."""
    parts = urlsplit(ref)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            report.dropped["http url without host"] += 1
            return None
        if _NOT_IN_URL.search(ref):
            report.dropped[DROP_NOT_A_REFERENCE] += 1
            return None
        return ref
    if _WINDOWS_ABSOLUTE.match(ref):
        report.dropped[DROP_OUTSIDE_RAW] += 1
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            report.dropped["file URI on another host"] += 1
            return None
        path = unquote(parts.path)
        if not path.startswith("/"):
            report.dropped["file URI without an absolute path"] += 1
            return None
    elif scheme == "":
        path = unquote(ref)
    else:
        report.dropped[f"scheme {scheme!r} not allowed"] += 1
        return None
    if "\x00" in path:
        report.dropped[DROP_NOT_A_REFERENCE] += 1
        return None
    reference = lake_reference(base_dir / path, raw_root, report)
    if reference is not None and (_NOT_IN_FILE_NAME.search(path) or not _FILE_EXTENSION.search(path)):
        report.dropped[DROP_NOT_A_REFERENCE] += 1
        return None
    return reference


def lake_reference(path: Path, raw_root: Path, report: ImageUrlReport) -> str | None:
    """``raw/<path inside raw_root>`` for the local file at absolute ``path``, resolved; None
    (counted) when it lies outside raw_root."""
    resolved = path.resolve()
    root = raw_root.resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        report.dropped[DROP_OUTSIDE_RAW] += 1
        return None
    return f"{RAW_FOLDER}/{resolved.relative_to(root).as_posix()}"


def parse_image_urls(raw: str | None, raw_root: Path, base_dir: Path, report: ImageUrlReport) -> list[str]:
    """Allowed, de-duplicated image references in their original order."""
    urls: list[str] = []
    for ref in split_image_field(raw, report):
        url = normalize_image_ref(ref, raw_root, base_dir, report)
        if url is not None and url not in urls:
            urls.append(url)
    if len(urls) > MAX_IMAGES_PER_PRODUCT:
        report.dropped["more than %d images" % MAX_IMAGES_PER_PRODUCT] += len(urls) - MAX_IMAGES_PER_PRODUCT
        urls = urls[:MAX_IMAGES_PER_PRODUCT]
    return urls
