"""Synthetic products as raw catalog rows in the three real formats, with a controlled share of quirks.

Formats (the same columns and spellings as the embedded sample, see recsys/catalog/sources.py):

- ``raw/asos/*.csv``: name, price, color, description, images, category. Descriptions run their
  bullets together after "<Type> by <Brand>" and end with "Product Code: <id>"; images are a
  Python-literal list of paths relative to the CSV (``['images/<id>.jpg']``).
- ``raw/myntra/styles/*.csv``: id, gender, masterCategory, subCategory, articleType, baseColour,
  season, year, usage, productDisplayName, written unquoted like the original export.
- ``raw/myntra/catalog/*.csv``: ProductID, ProductName, ProductBrand, Gender, Price (INR),
  NumImages, Description, PrimaryColor (with the export's leading space).

Each product row draws at most one quirk, each kind with probability ``quirk_rate``:

| quirk | ASOS | styles | catalog | ingestion outcome |
|---|---|---|---|---|
| ``na_value`` | color "NA" | usage "NA" | PrimaryColor "NA" | null, product kept |
| ``odd_format`` | price "Now  40.00" | unquoted comma in the name | multi-line description | parsed, kept |
| ``duplicate`` | row repeated | row repeated | row repeated | earlier copy quarantined: duplicate id |
| ``junk_row`` | extra row, price "TBC" | extra row, empty name | extra row, price 12000000 | quarantined |
| ``blank_line`` | blank line | blank line | blank line | skipped, counted |

Myntra styles also lose their image file with probability ``quirk_rate`` (product kept, no image).
Junk rows are extra rows, so the N generated products are exactly the valid silver products.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from recsys.synthetic.products import GENDERS, SOURCES, USAGES, COLOUR_NAMES, ProductChunk
from recsys.synthetic.vocabulary import ARTICLE_TYPES, ASOS_BRANDS, FITS, MATERIALS, MYNTRA_BRANDS, PATTERNS, SEASONS

ASOS, STYLES, CATALOG = range(3)
QUIRKS: tuple[str, ...] = ("na_value", "odd_format", "duplicate", "junk_row", "blank_line")
# The quarantine reason (its code before the colon) each junk row gets from the ingestion.
JUNK_REASONS: dict[str, str] = {"asos": "unparseable price", "myntra_styles": "missing name",
                                "myntra_catalog": "price out of range"}
DUPLICATE_REASON = "duplicate id"

HEADERS: dict[str, list[str]] = {
    "asos": ["name", "price", "color", "description", "images", "category"],
    "myntra_styles": ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year",
                      "usage", "productDisplayName"],
    "myntra_catalog": ["ProductID", "ProductName", "ProductBrand", "Gender", "Price (INR)", "NumImages", "Description",
                       "PrimaryColor"],
}
INR_PER_GBP = 90

_KEEP_PLURAL = frozenset({"Jeans", "Trousers", "Track Pants", "Shorts", "Socks", "Casual Shoes", "Sports Shoes",
                          "Formal Shoes", "Heels", "Flats", "Sandals", "Flip Flops", "Sunglasses", "Earrings"})


def _title_noun(article_type: str) -> str:
    """How Myntra names end: 'Shirt', 'Watch', 'Dress', but 'Jeans' and 'Casual Shoes'."""
    if article_type == "Scarves":
        return "Scarf"
    if article_type in _KEEP_PLURAL:
        return article_type
    if article_type.endswith(("ches", "sses")):
        return article_type[:-2]
    return article_type[:-1] if article_type.endswith("s") else article_type


_TITLES = [_title_noun(a.name) for a in ARTICLE_TYPES]


@dataclass
class CatalogTally:
    """What was written, and what the ingestion must make of it (the test oracle)."""

    records: Counter = field(default_factory=Counter)        # source -> CSV records (blank lines excluded)
    products: Counter = field(default_factory=Counter)       # source -> valid products
    quarantine: Counter = field(default_factory=Counter)     # "source|reason" -> rows
    blank_lines: Counter = field(default_factory=Counter)    # source -> blank lines
    quirks: Counter = field(default_factory=Counter)         # "source|quirk" -> rows
    images: int = 0                                          # image files to draw

    def add(self, other: CatalogTally) -> None:
        for name in ("records", "products", "quarantine", "blank_lines", "quirks"):
            getattr(self, name).update(getattr(other, name))
        self.images += other.images


@dataclass
class RenderedChunk:
    """One chunk's raw output: lines per source (CSV text, newline-terminated) and its image jobs."""

    lines: dict[str, list[str]]
    images: list[tuple[int, str]]      # image_paths(...) of the chunk
    tally: CatalogTally


def _csv_field(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _bullets(chunk: ProductChunk, row: int) -> list[str]:
    features = ARTICLE_TYPES[chunk.article[row]].features
    picked = dict.fromkeys(features[i % len(features)] for i in chunk.features[row]) if features else {}
    return list(picked)


def _pattern_word(chunk: ProductChunk, row: int) -> str:
    pattern = PATTERNS[chunk.pattern[row]]
    return "" if pattern == "Solid" else pattern + " "


def asos_fields(chunk: ProductChunk, row: int, quirk: str | None) -> list[str]:
    article = ARTICLE_TYPES[chunk.article[row]]
    brand = ASOS_BRANDS[chunk.brand[row] % len(ASOS_BRANDS)]
    colour = COLOUR_NAMES[chunk.colour[row]]
    fit = FITS[chunk.fit[row]] + " " if article.patterned else ""
    name = f"{brand} {fit}{_pattern_word(chunk, row).lower()}{article.noun} in {colour.lower()}"
    bullets = "".join(b[:1].upper() + b[1:] for b in _bullets(chunk, row))
    material = MATERIALS[chunk.material[row]]
    description = f"{article.name} by {brand}{bullets}{material[:1].upper()}{material[1:]}Product Code: {chunk.raw_id(row)}"
    price = f"{chunk.price_gbp[row]:.2f}"
    if quirk == "odd_format":
        price = f"Now  {chunk.price_gbp[row] * 0.8:.2f}"
    # ASOS writes some colours in capitals; the ingestion normalises the case.
    color = "NA" if quirk == "na_value" else (colour.upper() if row % 7 == 0 else colour)
    return [name, price, color, description, f"['{asos_image_path(chunk, row)}']", "Asos"]


def asos_image_path(chunk: ProductChunk, row: int) -> str:
    """Relative to the CSV's folder (raw/asos/), as the images column writes it."""
    return f"images/{chunk.raw_id(row)}.jpg"


def style_fields(chunk: ProductChunk, row: int, quirk: str | None) -> list[str]:
    article = ARTICLE_TYPES[chunk.article[row]]
    brand = MYNTRA_BRANDS[chunk.brand[row] % len(MYNTRA_BRANDS)]
    gender = GENDERS[chunk.gender[row]]
    colour = COLOUR_NAMES[chunk.colour[row]]
    colour_words = colour
    if quirk == "odd_format":   # "Nike Men Black, White Sports Shoes": the export does not quote this
        colour_words = f"{colour}, {COLOUR_NAMES[chunk.colour2[row]]}"
    name = f"{brand} {gender} {_pattern_word(chunk, row)}{colour_words} {_TITLES[chunk.article[row]]}"
    usage = "NA" if quirk == "na_value" else USAGES[chunk.usage[row]]
    return [chunk.raw_id(row), gender, article.category, article.subcategory, article.name, colour,
            SEASONS[chunk.season[row]], str(chunk.year[row]), usage, name]


def catalog_fields(chunk: ProductChunk, row: int, quirk: str | None) -> list[str]:
    article = ARTICLE_TYPES[chunk.article[row]]
    brand = MYNTRA_BRANDS[chunk.brand[row] % len(MYNTRA_BRANDS)]
    gender = GENDERS[chunk.gender[row]]
    colour = COLOUR_NAMES[chunk.colour[row]]
    fit = FITS[chunk.fit[row]].title() + " " if article.patterned else ""
    name = f"{brand} {gender} {colour} {_pattern_word(chunk, row)}{fit}{_TITLES[chunk.article[row]]}"
    bullets = _bullets(chunk, row)
    description = f"{colour.lower()} {_pattern_word(chunk, row).lower()}{article.noun}"
    if bullets:
        description += ", has " + ", ".join(bullets)
    material = MATERIALS[chunk.material[row]]
    description = description[:1].upper() + description[1:]
    if quirk == "odd_format":
        description += f"\nMaterial: {material}\nWash care: machine wash"
    else:
        description += f", made of {material}"
    price = str(int(round(chunk.price_gbp[row] * INR_PER_GBP, -1)) - 1)
    primary = "NA" if quirk == "na_value" else f" {colour}"
    num_images = str(4 + chunk.features[row, 0] % 4)
    return [chunk.raw_id(row), name, brand, gender, price, num_images, description, primary]


def junk_fields(source: str, fields: list[str]) -> list[str]:
    """A broken copy of a product row with an id of its own, rejected for JUNK_REASONS[source]."""
    junk = list(fields)
    if source == "asos":        # the product code in the description is the id
        junk[1] = "TBC"
        junk[3] = junk[3].replace("Product Code: ", "Product Code: 9")
    elif source == "myntra_styles":
        junk[0] = "9" + junk[0]
        junk[9] = ""
    else:
        junk[0] = "9" + junk[0]
        junk[4] = "12000000"
    return junk


def to_line(source: str, fields: list[str]) -> str:
    """The CSV line; Myntra styles are written unquoted, as the original export is."""
    if source == "myntra_styles":
        return ",".join(fields) + "\n"
    return ",".join(_csv_field(v) for v in fields) + "\n"


_FIELDS = (asos_fields, style_fields, catalog_fields)


def image_paths(chunk: ProductChunk, seed: int, chunk_index: int, quirk_rate: float) -> list[tuple[int, str]]:
    """(row in chunk, path relative to raw/) of every image the chunk's products have.

    Every ASOS product has one; a Myntra style lacks its file with probability ``quirk_rate``.
    Its own random stream, so image workers can recompute it from the seed alone.
    """
    missing = np.random.default_rng([seed, 6, chunk_index]).random(len(chunk)) < quirk_rate
    paths = []
    for row in range(len(chunk)):
        if chunk.source[row] == ASOS:
            paths.append((row, "asos/" + asos_image_path(chunk, row)))
        elif chunk.source[row] == STYLES and not missing[row]:
            paths.append((row, f"myntra/images/{chunk.raw_id(row)}.jpg"))
    return paths


def render_chunk(chunk: ProductChunk, seed: int, chunk_index: int, quirk_rate: float) -> RenderedChunk:
    """Raw lines for every product of ``chunk``, quirks included, and what ingestion will make of them."""
    rng = np.random.default_rng([seed, 3, chunk_index])
    draw = rng.random(len(chunk))
    kinds = np.minimum((draw / quirk_rate).astype(np.int64), len(QUIRKS)) if quirk_rate > 0 else \
        np.full(len(chunk), len(QUIRKS))
    lines: dict[str, list[str]] = {s: [] for s in SOURCES}
    images = image_paths(chunk, seed, chunk_index, quirk_rate)
    tally = CatalogTally()
    tally.quirks["myntra_styles|no_image"] = int((chunk.source == STYLES).sum()) - sum(
        1 for _, path in images if path.startswith("myntra/"))
    for row in range(len(chunk)):
        source_index = int(chunk.source[row])
        source = SOURCES[source_index]
        quirk = QUIRKS[kinds[row]] if kinds[row] < len(QUIRKS) else None
        fields = _FIELDS[source_index](chunk, row, quirk)
        line = to_line(source, fields)
        out = lines[source]
        out.append(line)
        tally.records[source] += 1
        tally.products[source] += 1
        if quirk is None:
            continue
        tally.quirks[f"{source}|{quirk}"] += 1
        if quirk == "duplicate":
            out.append(line)
            tally.records[source] += 1
            tally.quarantine[f"{source}|{DUPLICATE_REASON}"] += 1
        elif quirk == "junk_row":
            out.append(to_line(source, junk_fields(source, fields)))
            tally.records[source] += 1
            tally.quarantine[f"{source}|{JUNK_REASONS[source]}"] += 1
        elif quirk == "blank_line":
            out.append("\n")
            tally.blank_lines[source] += 1
    tally.images = len(images)
    return RenderedChunk(lines, images, tally)
