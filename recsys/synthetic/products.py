"""Latent synthetic products, drawn chunk by chunk from a seed.

Product ``i`` of a lake is defined by ``(seed, i // chunk_size)`` alone, so a chunk can be
regenerated anywhere (the image workers do) and a lake is identical whatever the worker count.
Each product belongs to one source; its raw id is derived from ``i`` in a range per source, so
raw ids never collide across sources (events may use raw ids unambiguously).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.synthetic.vocabulary import (
    ARTICLE_TYPES, ASOS_BRANDS, COLOURS, FITS, MATERIALS, MYNTRA_BRANDS, PATTERN_SHARES, PATTERNS, SEASON_SHARES,
)

SOURCES: tuple[str, ...] = ("asos", "myntra_styles", "myntra_catalog")
SOURCE_SHARES: tuple[float, ...] = (0.25, 0.6, 0.15)
# Raw id = offset + product index: ASOS product codes are 9 digits, Myntra style ids 7, catalog ids 8.
ID_OFFSETS: tuple[int, ...] = (200_000_000, 1_000_000, 10_000_000)
MAX_PRODUCTS = 9_000_000            # keeps the three id ranges apart

GENDERS: tuple[str, ...] = ("Men", "Women", "Unisex", "Boys", "Girls")
USAGES: tuple[str, ...] = tuple(dict.fromkeys(u for a in ARTICLE_TYPES for u in a.usages))
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(a.category for a in ARTICLE_TYPES))

_ARTICLE_P = np.array([a.share for a in ARTICLE_TYPES]) / sum(a.share for a in ARTICLE_TYPES)
_COLOUR_P = np.array([share for _, share in COLOURS.values()]) / sum(share for _, share in COLOURS.values())
_SOURCE_P = np.array(SOURCE_SHARES) / sum(SOURCE_SHARES)


def _choices_table(options: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged per-article choices as a padded table plus counts, for vectorised draws."""
    width = max(len(o) for o in options)
    table = np.zeros((len(options), width), dtype=np.int16)
    for row, values in enumerate(options):
        table[row, :len(values)] = values
    return table, np.array([len(o) for o in options], dtype=np.int16)


_GENDER_TABLE, _GENDER_COUNT = _choices_table([tuple(GENDERS.index(g) for g in a.genders) for a in ARTICLE_TYPES])
_USAGE_TABLE, _USAGE_COUNT = _choices_table([tuple(USAGES.index(u) for u in a.usages) for a in ARTICLE_TYPES])
ARTICLE_CATEGORY = np.array([CATEGORIES.index(a.category) for a in ARTICLE_TYPES], dtype=np.int8)
ARTICLE_PATTERNED = np.array([a.patterned for a in ARTICLE_TYPES])
_PRICE_LO = np.array([a.price_gbp[0] for a in ARTICLE_TYPES])
_PRICE_HI = np.array([a.price_gbp[1] for a in ARTICLE_TYPES])


@dataclass(frozen=True)
class ProductChunk:
    """Products ``start .. start + len - 1``: one entry per product in each array (indices into the vocabularies)."""

    start: int
    source: np.ndarray      # index into SOURCES
    article: np.ndarray     # index into ARTICLE_TYPES
    colour: np.ndarray      # index into COLOUR_NAMES
    colour2: np.ndarray     # second colour (patterns, two-colour names)
    gender: np.ndarray      # index into GENDERS
    usage: np.ndarray       # index into USAGES
    season: np.ndarray      # index into vocabulary.SEASONS
    pattern: np.ndarray     # index into PATTERNS (0 = Solid for unpatterned articles)
    material: np.ndarray    # index into MATERIALS
    fit: np.ndarray         # index into FITS
    brand: np.ndarray       # index into the source's brand list
    price_gbp: np.ndarray   # float64
    year: np.ndarray        # catalog year
    features: np.ndarray    # (n, 3) indices into the article's feature list (taken modulo its length)

    def __len__(self) -> int:
        return len(self.source)

    def raw_id(self, row: int) -> str:
        return str(ID_OFFSETS[self.source[row]] + self.start + row)


def chunk_bounds(products: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + chunk_size, products)) for lo in range(0, products, chunk_size)]


def product_chunk(seed: int, chunk_index: int, start: int, stop: int) -> ProductChunk:
    """The latent attributes of products ``start .. stop-1`` (chunk ``chunk_index`` of the lake)."""
    rng = np.random.default_rng([seed, 1, chunk_index])
    n = stop - start
    article = rng.choice(len(ARTICLE_TYPES), size=n, p=_ARTICLE_P).astype(np.int16)
    gender_pick = (rng.random(n) * _GENDER_COUNT[article]).astype(np.int16)
    # The first listed usage is the article's usual one: draw it about twice as often as the others.
    usage_pick = np.minimum((rng.random(n) ** 1.8 * _USAGE_COUNT[article]).astype(np.int16), _USAGE_COUNT[article] - 1)
    patterned = ARTICLE_PATTERNED[article]
    pattern = np.where(patterned, rng.choice(len(PATTERNS), size=n, p=PATTERN_SHARES), 0).astype(np.int8)
    source = rng.choice(len(SOURCES), size=n, p=_SOURCE_P).astype(np.int8)
    brand_lists = np.array([len(ASOS_BRANDS), len(MYNTRA_BRANDS), len(MYNTRA_BRANDS)])
    return ProductChunk(
        start=start,
        source=source,
        article=article,
        colour=rng.choice(len(COLOUR_NAMES), size=n, p=_COLOUR_P).astype(np.int8),
        colour2=rng.choice(len(COLOUR_NAMES), size=n, p=_COLOUR_P).astype(np.int8),
        gender=_GENDER_TABLE[article, gender_pick].astype(np.int8),
        usage=_USAGE_TABLE[article, usage_pick].astype(np.int8),
        season=rng.choice(len(SEASON_SHARES), size=n, p=SEASON_SHARES).astype(np.int8),
        pattern=pattern,
        material=rng.integers(0, len(MATERIALS), size=n).astype(np.int8),
        fit=rng.integers(0, len(FITS), size=n).astype(np.int8),
        brand=(rng.random(n) ** 1.5 * brand_lists[source]).astype(np.int16),   # a few big brands
        price_gbp=np.round(_PRICE_LO[article] + (_PRICE_HI[article] - _PRICE_LO[article]) * rng.beta(2, 5, n), 1) - 0.01,
        year=rng.integers(2011, 2019, size=n).astype(np.int16),
        features=rng.integers(0, 1 << 15, size=(n, 3)).astype(np.int16),
    )
