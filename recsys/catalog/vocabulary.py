"""Each source's own category, product type, department and gender values, mapped to the unified
vocabulary through data files in ``recsys/catalog/vocabularies/``.

- ``unified.csv`` is the unified vocabulary: genders, categories, subcategories (with their
  category) and article types (with their category and subcategory).
- ``<source>.csv`` maps that source's raw values: ``field`` (the raw field: category,
  subcategory, article_type, gender, department), ``value`` (the raw value), then the unified
  category, subcategory, article_type and gender the value means; a blank says nothing. A value
  listed with every target blank is known and carries no vocabulary (a size range, the retailer's
  own name), so it is not reported as unmapped. ``note`` is for reviewers.

Matching ignores case, whitespace and punctuation and reads "&" and "+" as "and", so
"COATS & JACKETS" and "coats and jackets" are one value. A value missing from the mapping never
fails a load: the unified field is left for inference (recsys.catalog.enrich) or null, and the
value is counted so a user knows what to add. Errors in the mapping files themselves are
repository errors and fail at load with the file and line.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

VOCABULARY_DIR = Path(__file__).with_name("vocabularies")
UNIFIED_FIELDS: tuple[str, ...] = ("category", "subcategory", "article_type", "gender")
# The raw fields a source may carry, most specific first: for each unified field, the raw field
# of the same name wins, then the others in this order.
SOURCE_FIELDS: tuple[str, ...] = ("gender", "article_type", "subcategory", "category", "department")
MAPPING_COLUMNS: tuple[str, ...] = ("field", "value", *UNIFIED_FIELDS, "note")


def source_column(field: str) -> str:
    """The product column that keeps a raw vocabulary field as the source wrote it."""
    return f"source_{field}"


def vocabulary_key(value: str) -> str:
    """The matching form of a raw value: case, whitespace and punctuation do not count."""
    text = value.casefold().replace("&", " and ").replace("+", " and ").replace("'", "")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


@dataclass(frozen=True)
class UnifiedVocabulary:
    genders: tuple[str, ...]
    categories: tuple[str, ...]
    subcategories: dict[str, str]                 # subcategory -> its category
    article_types: dict[str, tuple[str, str]]     # article type -> (category, subcategory)

    def values(self, field: str) -> tuple[str, ...]:
        return {"gender": self.genders, "category": self.categories,
                "subcategory": tuple(self.subcategories), "article_type": tuple(self.article_types)}[field]


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != columns:
            raise ValueError(f"{path.name}: header must be {','.join(columns)}")
        return [(reader.line_num, {k: (v or "").strip() for k, v in row.items()}) for row in reader]


@cache
def unified_vocabulary() -> UnifiedVocabulary:
    path = VOCABULARY_DIR / "unified.csv"
    by_field: dict[str, dict[str, tuple[str, str]]] = {f: {} for f in UNIFIED_FIELDS}
    for line, row in _read_rows(path, ("field", "value", "category", "subcategory")):
        if row["field"] not in by_field or not row["value"]:
            raise ValueError(f"{path.name} line {line}: unknown field {row['field']!r} or empty value")
        by_field[row["field"]][row["value"]] = (row["category"], row["subcategory"])
    vocabulary = UnifiedVocabulary(
        genders=tuple(by_field["gender"]), categories=tuple(by_field["category"]),
        subcategories={s: c for s, (c, _) in by_field["subcategory"].items()},
        article_types=dict(by_field["article_type"]))
    for name, (category, subcategory) in vocabulary.article_types.items():
        if category not in vocabulary.categories or subcategory not in vocabulary.subcategories:
            raise ValueError(f"{path.name}: article type {name!r} has a parent outside the vocabulary")
    if set(vocabulary.subcategories.values()) - set(vocabulary.categories):
        raise ValueError(f"{path.name}: a subcategory's category is outside the vocabulary")
    return vocabulary


class SourceVocabulary:
    """One source's mapping from (raw field, raw value) to unified values."""

    def __init__(self, source: str, mappings: dict[tuple[str, str], dict[str, str]]):
        self.source = source
        self._mappings = mappings

    def unify(self, raw: dict[str, str | None]) -> tuple[dict[str, str | None], list[tuple[str, str]]]:
        """Unified values from a product's raw vocabulary fields, and the (field, value) pairs the
        mapping does not know."""
        meanings: dict[str, dict[str, str]] = {}
        unmapped: list[tuple[str, str]] = []
        for field in SOURCE_FIELDS:
            value = raw.get(field)
            if not value:
                continue
            meaning = self._mappings.get((field, vocabulary_key(value)))
            if meaning is None:
                unmapped.append((field, value))
            else:
                meanings[field] = meaning
        unified = {}
        for target in UNIFIED_FIELDS:
            order = (target, *(f for f in SOURCE_FIELDS if f != target))
            unified[target] = next((meanings[f][target] for f in order if meanings.get(f, {}).get(target)), None)
        return unified, unmapped


@cache
def source_vocabulary(source: str) -> SourceVocabulary:
    """The mapping in ``vocabularies/<source>.csv``, checked against the unified vocabulary."""
    path = VOCABULARY_DIR / f"{source}.csv"
    unified = unified_vocabulary()
    mappings: dict[tuple[str, str], dict[str, str]] = {}
    for line, row in _read_rows(path, MAPPING_COLUMNS):
        key = (row["field"], vocabulary_key(row["value"]))
        if row["field"] not in SOURCE_FIELDS or not key[1]:
            raise ValueError(f"{path.name} line {line}: unknown field {row['field']!r} or empty value")
        if key in mappings:
            raise ValueError(f"{path.name} line {line}: {row['value']!r} is listed twice for {row['field']}")
        targets = {t: row[t] for t in UNIFIED_FIELDS if row[t]}
        for target, value in targets.items():
            if value not in unified.values(target):
                raise ValueError(f"{path.name} line {line}: {target} {value!r} is not in unified.csv")
        mappings[key] = targets
    return SourceVocabulary(source, mappings)


def unify_rows(rows: list[dict]) -> Counter:
    """Set each row's unified vocabulary fields from its ``source_<field>`` raw values, in place.

    Returns how many products carry each unmapped (source, field, raw value).
    """
    unmapped: Counter = Counter()
    for row in rows:
        raw = {field: row.get(source_column(field)) for field in SOURCE_FIELDS}
        unified, missing = source_vocabulary(row["source"]).unify(raw)
        row.update(unified)
        unmapped.update((row["source"], field, value) for field, value in missing)
    return unmapped
