"""Price strings as exported by shops: "49.99", "Now  40.00", "Was £50.00 Now £25.00", "1,299"."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from recsys.catalog.schema import MAX_PRICE
from recsys.catalog.text import null_if_missing

_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+")
_NOW = re.compile(r"\bnow\b", re.IGNORECASE)
_CURRENCY_SYMBOLS = {"£": "GBP", "€": "EUR", "$": "USD", "₹": "INR"}
_CURRENCY_CODES = re.compile(r"\b(GBP|EUR|USD|INR|RS)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedPrice:
    value: float | None
    currency: str | None
    error: str | None = None


def parse_price(raw: str | None, default_currency: str | None) -> ParsedPrice:
    """Parse a price; the current ("Now") price wins over a struck-through ("Was") one.

    Missing prices are valid (value None): empty, or a null token such as "NA" or "null". Anything
    else that does not give one finite number in [0, MAX_PRICE] is an error with a reason, so the
    row can be quarantined.
    """
    if null_if_missing(raw) is None:
        return ParsedPrice(None, None)
    text = raw.strip()
    currency = default_currency
    for symbol, code in _CURRENCY_SYMBOLS.items():
        if symbol in text:
            currency = code
    code_match = _CURRENCY_CODES.search(text)
    if code_match:
        code = code_match.group(1).upper()
        currency = "INR" if code == "RS" else code
    now = _NOW.search(text)
    if now:
        text = text[now.end():]
    numbers = _NUMBER.findall(text)
    if not numbers:
        return ParsedPrice(None, None, f"unparseable price: {raw.strip()[:40]!r}")
    if len(numbers) > 1 and not now:
        return ParsedPrice(None, None, f"ambiguous price: {raw.strip()[:40]!r}")
    try:
        value = float(numbers[0].replace(",", ""))
    except ValueError:
        return ParsedPrice(None, None, f"unparseable price: {raw.strip()[:40]!r}")
    if not math.isfinite(value) or value < 0 or value > MAX_PRICE:
        return ParsedPrice(None, None, f"price out of range: {raw.strip()[:40]!r}")
    return ParsedPrice(value, currency)
