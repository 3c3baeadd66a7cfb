"""Fill article type, category, subcategory and gender where the vocabulary mapping left none.

Article types come from the unified vocabulary (vocabularies/unified.csv) plus a few outerwear
synonyms for ASOS, matched over the raw vocabulary values and the name. A product name ends with
what it is ("DKNY Unisex Black Trolley Bag"), so the match nearest the end wins; ties go to the
longer term. A gender is read from the name only when it names exactly one of Men, Women or
Unisex: names also carry brands ("Girls on Film"), so children's genders are never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from recsys.catalog.vocabulary import UnifiedVocabulary, source_column

# Terms that name an article type without being one of the vocabulary's own spellings.
SYNONYMS: dict[str, str] = {
    "jacket": "Jackets", "shacket": "Jackets", "gilet": "Jackets", "puffer": "Jackets", "parka": "Jackets",
    "bomber": "Jackets", "anorak": "Jackets", "windbreaker": "Jackets",
    "t-shirt": "Tshirts", "t shirt": "Tshirts", "tee": "Tshirts",
    "coat": "Coats", "overcoat": "Coats", "trench": "Coats", "mac": "Coats",
}
# Raw values that may name what a product is, read before the name when inferring its type.
HINT_FIELDS: tuple[str, ...] = ("article_type", "subcategory", "category")
_NAME_GENDERS = re.compile(r"\b(?:(?P<Women>women'?s?|ladies)|(?P<Men>men'?s?)|(?P<Unisex>unisex))\b", re.IGNORECASE)


def _singular(term: str) -> str:
    if term.endswith("ies"):
        return term[:-3] + "y"
    if term.endswith(("ches", "shes", "sses", "xes")):
        return term[:-2]
    if term.endswith("s") and not term.endswith("ss"):
        return term[:-1]
    return term


class ArticleTypeMatcher:
    """Finds the article type a text names, in the vocabulary's spellings, plurals and synonyms."""

    def __init__(self, article_types: Iterable[str]):
        terms: dict[str, str] = {}
        for article_type in article_types:
            lower = article_type.lower()
            terms.setdefault(lower, article_type)
            terms.setdefault(_singular(lower), article_type)
            terms.setdefault(_singular(lower) + "s", article_type)
        for term, article_type in SYNONYMS.items():
            terms.setdefault(term, article_type)
            terms.setdefault(term + "s", article_type)
        self._terms = terms
        alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
        self._pattern = re.compile(rf"\b(?:{alternation})\b", re.IGNORECASE)

    def infer(self, text: str) -> str | None:
        best: tuple[int, int, str] | None = None
        for match in self._pattern.finditer(text):
            key = (match.end(), len(match.group(0)), self._terms[match.group(0).lower()])
            if best is None or key[:2] > best[:2]:
                best = key
        return best[2] if best else None


def infer_gender(name: str) -> str | None:
    """Men, Women or Unisex when the name names exactly one of them, else None."""
    found = {m.lastgroup for m in _NAME_GENDERS.finditer(name)}
    return found.pop() if len(found) == 1 else None


def enrich(rows: list[dict], vocabulary: UnifiedVocabulary) -> tuple[int, int]:
    """Fill missing article_type/category/subcategory/gender in place.

    Returns how many article types and how many genders were inferred.
    """
    matcher = ArticleTypeMatcher(vocabulary.article_types)
    types_inferred = genders_inferred = 0
    for row in rows:
        hints = [row.get(source_column(f)) for f in HINT_FIELDS] + [row.pop("article_hint", None)]
        if row["article_type"] is None:
            row["article_type"] = matcher.infer(" ".join(filter(None, [*hints, row["name"]])))
            types_inferred += row["article_type"] is not None
        if row["article_type"] is not None:
            category, subcategory = vocabulary.article_types[row["article_type"]]
            row["category"] = row["category"] or category
            row["subcategory"] = row["subcategory"] or subcategory
        if row["category"] is None and row["subcategory"] is not None:
            row["category"] = vocabulary.subcategories[row["subcategory"]]
        if row["gender"] is None:
            row["gender"] = infer_gender(row["name"])
            genders_inferred += row["gender"] is not None
    return types_inferred, genders_inferred
