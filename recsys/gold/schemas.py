"""Gold table schemas (contract: docs/tables.md) and how each is laid out for readers.

Every table carries ``build_id`` (the build that wrote it). Tables are sorted by their lookup
keys before writing, so Parquet row-group statistics and DuckDB zone maps skip everything but
the rows of the product or user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from recsys.catalog.schema import PRODUCT_SCHEMA

# The silver columns apps join on (recsys.catalog.schema, up to currency), then what gold adds.
_SILVER_COLUMNS = list(PRODUCT_SCHEMA)[: list(PRODUCT_SCHEMA).index("currency") + 1]
PRODUCTS_SCHEMA: dict[str, pl.DataType] = {
    **{name: PRODUCT_SCHEMA[name] for name in _SILVER_COLUMNS},
    "price_band": pl.String(),      # 'low' | 'mid' | 'high' within the product's currency; null without price
    "image_urls": pl.List(pl.String()),
    "image_path": pl.String(),      # lake-relative path of the cached image; null without one
    "has_image": pl.Boolean(),
    "has_text": pl.Boolean(),
    "build_id": pl.String(),
}

SIMILAR_ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "rank": pl.Int32(),
    "similar_product_id": pl.String(),
    "score": pl.Float32(),
    "reason": pl.String(),
    "model": pl.String(),
    "build_id": pl.String(),
}

USER_RECOMMENDATIONS_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "rank": pl.Int32(),
    "product_id": pl.String(),
    "score": pl.Float32(),
    "reason": pl.String(),
    "model": pl.String(),
    "build_id": pl.String(),
}

STYLE_RECOMMENDATIONS_SCHEMA: dict[str, pl.DataType] = {
    "style": pl.String(),
    "gender": pl.String(),          # null = any gender
    "rank": pl.Int32(),
    "product_id": pl.String(),
    "score": pl.Float32(),
    "reason": pl.String(),
    "build_id": pl.String(),
}

BUILDS_SCHEMA: dict[str, pl.DataType] = {
    "build_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "products": pl.Int64(),
    "users": pl.Int64(),
    "styles": pl.Int64(),
    "similar_items_rows": pl.Int64(),
    "user_recommendations_rows": pl.Int64(),
    "style_recommendations_rows": pl.Int64(),
    "similar_items_coverage": pl.Float64(),          # share of products with at least one similar item
    "recommended_catalog_coverage": pl.Float64(),    # share of products recommended to at least one user
    "index_kind": pl.String(),
    "vector_model": pl.String(),
    "recomputed": pl.List(pl.String()),              # tables with rows written by this build
    "reused": pl.List(pl.String()),                  # tables carried over whole from an earlier build ("name@build_id")
    "new_products": pl.Int64(),                      # catalog changes this build started from (silver/product_changes)
    "changed_products": pl.Int64(),
    "removed_products": pl.Int64(),
    "stages": pl.List(pl.Struct({"stage": pl.String(), "seconds": pl.Float64(), "outcome": pl.String()})),
}


# What each published column means, for readers of the tables (the Dagster UI shows it with each
# table's column schema; docs/tables.md says the same).
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "product_id": "The product: <source>:<source id>, stable across builds.",
    "source": "Which raw catalog the product came from (asos, myntra_styles, myntra_catalog).",
    "source_id": "The product's id in its source.",
    "name": "Product name.",
    "description": "Plain-text description (HTML stripped), at most 5,000 characters.",
    "brand": "Brand, null when the source has none.",
    "gender": "Unified gender: Men, Women, Unisex, Boys, Girls, Unisex Kids, or null.",
    "category": "Unified master category (Apparel, Accessories, Footwear, ...), or null.",
    "subcategory": "Unified subcategory (Topwear, Bags, ...), or null.",
    "article_type": "Unified article type (Tshirts, Jeans, Handbags, ...), or null.",
    "colour": "Base colour, title case.",
    "usage": "Usage (Casual, Formal, Sports, ...), null when the source has none.",
    "season": "Season, null when the source has none.",
    "price": "Current price; null when missing.",
    "currency": "ISO currency of the price (GBP, INR, ...).",
    "price_band": "low, mid or high within the product's currency; null without a price.",
    "image_urls": "Image references: http(s) URLs and lake-relative paths of local images.",
    "image_path": "Lake-relative path of the cached, normalized image; null without one.",
    "has_image": "Whether the product has a usable image (its vector has an image part).",
    "has_text": "Whether the product has text for its vector.",
    "rank": "1-based position in the list.",
    "similar_product_id": "A product similar to product_id; never product_id itself.",
    "user_id": "The user the list is for.",
    "style": "The style (persona) a new shopper picked.",
    "score": "The re-ranker's score: higher ranks first.",
    "reason": "Why this item is on the list, in words.",
    "model": "hybrid when two or more signals ranked the list, else the one signal's name.",
    "build_id": "The build that computed this row (carried-over rows keep theirs).",
    "started_at": "When the build started (UTC).",
    "finished_at": "When the build finished (UTC).",
    "products": "Products in the catalog.",
    "users": "Users with a list.",
    "styles": "Styles with a list.",
    "similar_items_rows": "Rows of gold/similar_items.",
    "user_recommendations_rows": "Rows of gold/user_recommendations.",
    "style_recommendations_rows": "Rows of gold/style_recommendations.",
    "similar_items_coverage": "Share of products with at least one similar item.",
    "recommended_catalog_coverage": "Share of products recommended to at least one user.",
    "index_kind": "The FAISS index the lists were searched in (exact or hnsw).",
    "vector_model": "The encoder and version of the vectors.",
    "recomputed": "Tables with rows written by this build.",
    "reused": "Tables carried over whole from an earlier build (name@build_id).",
    "new_products": "Products the catalog load added.",
    "changed_products": "Products whose content changed.",
    "removed_products": "Products the catalog load removed.",
    "stages": "Per pipeline step: seconds and what it did.",
}


@dataclass(frozen=True)
class TableBuild:
    """A built gold table and how long its stages took (seconds by stage)."""

    table: pl.DataFrame
    seconds: dict[str, float]


@dataclass(frozen=True)
class GoldTable:
    name: str                     # gold/<name>.parquet and the DuckDB table name
    schema: dict[str, pl.DataType]
    order_by: tuple[str, ...]     # sort for point lookups
    lookup_columns: tuple[str, ...] = ()   # indexed in the warehouse: equality lookups read only their rows



GOLD_TABLES: dict[str, GoldTable] = {t.name: t for t in (
    GoldTable("products", PRODUCTS_SCHEMA, ("product_id",), ("product_id",)),
    GoldTable("similar_items", SIMILAR_ITEMS_SCHEMA, ("product_id", "rank"),
              ("product_id",)),
    GoldTable("user_recommendations", USER_RECOMMENDATIONS_SCHEMA, ("user_id", "rank"),
              ("user_id",)),
    GoldTable("style_recommendations", STYLE_RECOMMENDATIONS_SCHEMA, ("style", "gender", "rank")),
    GoldTable("builds", BUILDS_SCHEMA, ("started_at", "build_id")),
)}


def conform(df: pl.DataFrame, table: GoldTable, in_order: bool = False) -> pl.DataFrame:
    """Columns in contract order and types, rows in lookup order (nulls of ``gender`` first).

    ``in_order``: the caller built the rows in lookup order already; they are not sorted again (a
    sort copies the table: 50M rows for a million users' lists).
    """
    missing = [c for c in table.schema if c not in df.columns]
    if missing:
        raise ValueError(f"gold/{table.name} is missing columns {missing}")
    typed = df.select([pl.col(c).cast(t) for c, t in table.schema.items()])
    return typed if in_order else typed.sort(list(table.order_by), nulls_last=False, maintain_order=True)
