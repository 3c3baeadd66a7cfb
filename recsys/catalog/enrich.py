"""Fill article type, category and subcategory where a source has none.

The vocabulary is learned from the products that do carry an article type (the Myntra styles),
plus a few outerwear synonyms for ASOS. A product name ends with what it is ("DKNY Unisex Black
Trolley Bag"), so the match nearest the end of the name wins; ties go to the longer term.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

# Terms that name an article type without being one of the vocabulary's own spellings.
SYNONYMS: dict[str, str] = {
    "jacket": "Jackets", "shacket": "Jackets", "gilet": "Jackets", "puffer": "Jackets", "parka": "Jackets",
    "bomber": "Jackets", "anorak": "Jackets", "windbreaker": "Jackets",
    "t-shirt": "Tshirts", "t shirt": "Tshirts", "tee": "Tshirts",
    "coat": "Coats", "overcoat": "Coats", "trench": "Coats", "mac": "Coats",
}
EXTRA_TYPES: dict[str, tuple[str, str]] = {"Coats": ("Apparel", "Topwear"), "Jackets": ("Apparel", "Topwear")}


def _singular(term: str) -> str:
    if term.endswith("ies"):
        return term[:-3] + "y"
    if term.endswith(("ches", "shes", "sses", "xes")):
        return term[:-2]
    if term.endswith("s") and not term.endswith("ss"):
        return term[:-1]
    return term


class ArticleTypeVocabulary:
    """Article types with their most common (category, subcategory), and a matcher over names."""

    def __init__(self, typed: list[tuple[str, str | None, str | None]]):
        counts: dict[str, Counter] = defaultdict(Counter)
        for article_type, category, subcategory in typed:
            counts[article_type][(category, subcategory)] += 1
        self.parents: dict[str, tuple[str | None, str | None]] = dict(EXTRA_TYPES)
        self.parents.update({t: c.most_common(1)[0][0] for t, c in counts.items()})
        terms: dict[str, str] = {}
        for article_type in self.parents:
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


def enrich_article_types(rows: list[dict]) -> int:
    """Fill missing article_type/category/subcategory in place; returns how many were inferred."""
    vocabulary = ArticleTypeVocabulary(
        [(r["article_type"], r["category"], r["subcategory"]) for r in rows if r["article_type"]]
    )
    inferred = 0
    for row in rows:
        hint = row.pop("article_hint", None)
        if row["article_type"] is None:
            row["article_type"] = vocabulary.infer(f"{hint or ''} {row['name']}")
            inferred += row["article_type"] is not None
        if row["article_type"] is not None:
            category, subcategory = vocabulary.parents.get(row["article_type"], (None, None))
            row["category"] = row["category"] or category
            row["subcategory"] = row["subcategory"] or subcategory
    return inferred
