"""One parser per raw format. Each turns a RawRecord into product fields or a rejection reason.

A parser never raises on bad data: it returns a reason string that the loader quarantines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys.catalog.csv_records import RawRecord
from recsys.catalog.image_urls import ImageUrlReport, lake_reference, parse_image_urls
from recsys.catalog.price import parse_price
from recsys.catalog.text import clean_description, clean_short, null_if_missing, strip_html, title_case_colour
from recsys.catalog.vocabulary import SOURCE_FIELDS, source_column


@dataclass
class ParseContext:
    raw_root: Path          # the lake's raw/ folder; local image paths must stay inside it
    file_path: Path         # the raw file being read
    images: ImageUrlReport  # dropped image references, counted


Parsed = dict | str  # product fields, or the reason the record is rejected
Parser = Callable[[RawRecord, ParseContext], Parsed]


@dataclass(frozen=True)
class SourceFormat:
    name: str                      # the `source` column value and the product_id prefix
    pattern: str                   # glob under raw/
    required_columns: tuple[str, ...]
    parse: Parser


def vocabulary_fields(**raw: str | None) -> dict:
    """The raw vocabulary values as the source wrote them (``source_<field>``), with the unified
    fields left empty: recsys.catalog.vocabulary maps them after parsing."""
    fields = {"gender": None, "category": None, "subcategory": None, "article_type": None}
    return fields | {source_column(f): clean_short(raw.get(f)) for f in SOURCE_FIELDS}


def _shape_problem(record: RawRecord, allow_extra: bool = False) -> str | None:
    if record.problem:
        return record.problem
    if record.extra and not allow_extra:
        return f"wrong field count: {len(record.fields) + len(record.extra)} fields, expected {len(record.fields)}"
    if record.missing:
        return f"wrong field count: {len(record.fields)} fields, expected {len(record.fields) + record.missing}"
    return None


def _valid_id(value: str | None) -> str | None:
    value = null_if_missing(value)
    if value is None or len(value) > 64 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
        return None
    return value


# --- ASOS ----------------------------------------------------------------------------------

_ASOS_CODE = re.compile(r"Product Code:?\s*([0-9]{3,})", re.IGNORECASE)
_ASOS_URL_ID = re.compile(r"/prd/(\d+)")
# "Coats & Jackets by New LookLow-key layering": the type, then the brand up to the seam
# where the next bullet starts (lower→Upper, or an all-caps brand followed by Capitalised).
_ASOS_TYPE_BRAND = re.compile(
    r"^\s*(?P<type>[^\n]{1,60}?) by (?P<brand>.+?)(?:(?<=[a-z0-9.'&])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|$|\n)"
)


def asos_source_id(fields: dict[str, str]) -> str | None:
    """The ASOS product id from the record itself: sku, the 'Product Code' in the
    description, the /prd/<id> of the url, else a hash of the identifying fields."""
    sku = _valid_id(fields.get("sku"))
    if sku:
        return sku
    code = _ASOS_CODE.search(fields.get("description") or "")
    if code:
        return code.group(1)
    url_id = _ASOS_URL_ID.search(fields.get("url") or "")
    if url_id:
        return url_id.group(1)
    identity = "\x1f".join((fields.get(k) or "").strip().lower() for k in ("name", "color", "images"))
    if not identity.strip("\x1f"):
        return None
    return "h" + hashlib.sha256(identity.encode()).hexdigest()[:16]


def parse_asos(record: RawRecord, ctx: ParseContext) -> Parsed:
    if problem := _shape_problem(record):
        return problem
    f = record.fields
    name = clean_short(f.get("name"))
    if name is None:
        return "missing name"
    source_id = asos_source_id(f)
    if source_id is None:
        return "missing id"
    price = parse_price(f.get("price"), default_currency="GBP")
    if price.error:
        return price.error
    # Strip HTML before looking for "<type> by <brand>", which tags would otherwise split.
    raw_description = strip_html(f.get("description") or "")
    type_brand = _ASOS_TYPE_BRAND.match(raw_description)
    article_hint, brand = (None, None)
    if type_brand:
        article_hint = clean_short(type_brand.group("type"))
        brand = clean_short(type_brand.group("brand"))
        raw_description = raw_description[type_brand.end():]
    raw_description = _ASOS_CODE.sub("", raw_description)
    return {
        "source_id": source_id,
        "name": name,
        "description": clean_description(raw_description, split_bullets=True),
        "brand": brand,
        **vocabulary_fields(category=f.get("category"), gender=f.get("gender"), department=f.get("department")),
        "article_hint": article_hint,
        "colour": title_case_colour(f.get("color") or f.get("colour")),
        "usage": None,
        "season": None,
        "price": price.value,
        "currency": price.currency if price.value is not None else None,
        "image_urls": parse_image_urls(f.get("images"), ctx.raw_root, ctx.file_path.parent, ctx.images),
    }


# --- Myntra styles (Kaggle "Fashion Product Images") ----------------------------------------


def parse_myntra_style(record: RawRecord, ctx: ParseContext) -> Parsed:
    # productDisplayName is the last column and unquoted: extra fields are commas in the name.
    if problem := _shape_problem(record, allow_extra=True):
        return problem
    f = dict(record.fields)
    if record.extra:
        f["productDisplayName"] = ",".join([f.get("productDisplayName", "")] + record.extra)
    source_id = _valid_id(f.get("id"))
    if source_id is None:
        return "missing id" if null_if_missing(f.get("id")) is None else f"invalid id: {f.get('id', '')[:40]!r}"
    name = clean_short(f.get("productDisplayName"))
    if name is None:
        return "missing name"
    image = ctx.raw_root / "myntra" / "images" / f"{source_id}.jpg"
    image_ref = lake_reference(image, ctx.raw_root, ctx.images) if image.is_file() else None
    return {
        "source_id": source_id,
        "name": name,
        "description": None,
        "brand": None,
        **vocabulary_fields(gender=f.get("gender"), category=f.get("masterCategory"),
                            subcategory=f.get("subCategory"), article_type=f.get("articleType")),
        "article_hint": None,
        "colour": title_case_colour(f.get("baseColour")),
        "usage": clean_short(f.get("usage")),
        "season": clean_short(f.get("season")),
        "price": None,
        "currency": None,
        "image_urls": [image_ref] if image_ref else [],
    }


# --- Myntra products catalog ----------------------------------------------------------------


def parse_myntra_catalog(record: RawRecord, ctx: ParseContext) -> Parsed:
    if problem := _shape_problem(record):
        return problem
    f = record.fields
    source_id = _valid_id(f.get("ProductID"))
    if source_id is None:
        return "missing id" if null_if_missing(f.get("ProductID")) is None else f"invalid id: {f.get('ProductID', '')[:40]!r}"
    name = clean_short(f.get("ProductName"))
    if name is None:
        return "missing name"
    price = parse_price(f.get("Price (INR)"), default_currency="INR")
    if price.error:
        return price.error
    return {
        "source_id": source_id,
        "name": name,
        "description": clean_description(f.get("Description"), split_bullets=True),
        "brand": clean_short(f.get("ProductBrand")),
        **vocabulary_fields(gender=f.get("Gender")),
        "article_hint": None,
        "colour": title_case_colour(f.get("PrimaryColor")),
        "usage": None,
        "season": None,
        "price": price.value,
        "currency": price.currency if price.value is not None else None,
        "image_urls": [],
    }


SOURCE_FORMATS: tuple[SourceFormat, ...] = (
    SourceFormat("asos", "asos/*.csv", ("name", "price", "description", "images"), parse_asos),
    SourceFormat("myntra_styles", "myntra/styles/*.csv",
                 ("id", "gender", "masterCategory", "subCategory", "articleType", "productDisplayName"),
                 parse_myntra_style),
    SourceFormat("myntra_catalog", "myntra/catalog/*.csv", ("ProductID", "ProductName", "Price (INR)"),
                 parse_myntra_catalog),
)
