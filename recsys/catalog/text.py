"""Text cleaning shared by every source: null tokens, HTML, whitespace, run-together bullets."""

from __future__ import annotations

import html
import re

# Strings that exporters write for "no value". Compared case-insensitively after stripping.
NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nil", "-", "--"})

MAX_DESCRIPTION_CHARS = 5_000
MAX_SHORT_FIELD_CHARS = 300

_TAG = re.compile(r"<[^>]{0,2000}>")
_BLOCK_TAG = re.compile(r"<\s*(br|/p|/li|/div|/h\d)\s*/?>", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
# An opening script/style tag; its attributes may quote ">" and it may close itself ("/>").
_CODE_OPEN = re.compile(r"""<\s*(?P<tag>script|style)\b(?:"[^"]*"|'[^']*'|[^'">])*?(?P<empty>/\s*)?>""", re.IGNORECASE)
_CODE_CLOSE = {tag: re.compile(rf"<\s*/\s*{tag}\b[^>]*>", re.IGNORECASE) for tag in ("script", "style")}
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")
# "Low-key layeringNotch collar": ASOS bullets lost their separators; a lower-case letter
# directly followed by an upper-case one marks the seam.
_BULLET_SEAM = re.compile(r"(?<=[a-z0-9%)])(?=[A-Z][a-z])")


def null_if_missing(value: str | None) -> str | None:
    """Strip ``value``; map empty strings and null tokens ("NA", "null", ...) to None."""
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in NULL_TOKENS else value


def clean_short(value: str | None) -> str | None:
    """A one-line attribute (name, colour, brand): whitespace collapsed, HTML entities decoded."""
    value = null_if_missing(value)
    if value is None:
        return None
    value = _SPACE.sub(" ", html.unescape(_NEWLINES.sub(" ", value))).strip()
    return value[:MAX_SHORT_FIELD_CHARS] or None


def _drop_code_blocks(value: str) -> str:
    """``value`` without its script and style blocks; the text around them stays. A block that is
    never closed ends at the next tag, so one broken ``<script>`` costs its own code, not the text
    after it."""
    kept, position = [], 0
    unclosed_from: dict[str, int] = {}  # no closing tag of this kind at or after this position
    while opening := _CODE_OPEN.search(value, position):
        kept.append(value[position:opening.start()])
        position = opening.end()
        if opening["empty"]:
            continue
        tag = opening["tag"].lower()
        closing = None if position >= unclosed_from.get(tag, len(value) + 1) else _CODE_CLOSE[tag].search(value, position)
        if closing is not None:
            position = closing.end()
        else:
            unclosed_from.setdefault(tag, position)
            next_tag = value.find("<", position)
            position = len(value) if next_tag < 0 else next_tag
        kept.append(" ")
    kept.append(value[position:])
    return "".join(kept)


def strip_html(value: str) -> str:
    """Plain text from HTML-ish text: comments, scripts and styles dropped (the text around them
    kept), block tags to newlines, tags removed."""
    value = _drop_code_blocks(_COMMENT.sub(" ", value))
    value = _BLOCK_TAG.sub("\n", value)
    value = _TAG.sub(" ", value)
    return html.unescape(value)


def clean_description(value: str | None, split_bullets: bool = False) -> str | None:
    """Plain-text description: HTML stripped, whitespace normalised, capped in length."""
    value = null_if_missing(value)
    if value is None:
        return None
    text = strip_html(value)
    if split_bullets:
        text = _BULLET_SEAM.sub(". ", text)
    lines = [_SPACE.sub(" ", line).strip() for line in _NEWLINES.split(text)]
    text = "\n".join(line for line in lines if line)
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[: MAX_DESCRIPTION_CHARS - 1].rstrip() + "…"
    return text or None


def title_case_colour(value: str | None) -> str | None:
    """'BLACK', ' black' and 'Black' are one colour: normalise the case of each word."""
    value = clean_short(value)
    if value is None:
        return None
    return " ".join(word[:1].upper() + word[1:].lower() for word in value.split(" "))
