"""The unified product schema (contract: docs/tables.md, silver/products) and the quarantine schema."""

from __future__ import annotations

from collections import Counter

import polars as pl

PRODUCT_SCHEMA: dict[str, pl.DataType] = {
    "product_id": pl.String(),
    "source": pl.String(),
    "source_id": pl.String(),
    "name": pl.String(),
    "description": pl.String(),
    "brand": pl.String(),
    "gender": pl.String(),
    "category": pl.String(),
    "subcategory": pl.String(),
    "article_type": pl.String(),
    "colour": pl.String(),
    "usage": pl.String(),
    "season": pl.String(),
    "price": pl.Float64(),
    "currency": pl.String(),
    "image_urls": pl.List(pl.String()),
    "content_hash": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    # Lineage, so a user can go from a product back to the raw line it came from.
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    # The source's own vocabulary values as written (recsys.catalog.vocabulary maps them to the
    # unified gender/category/subcategory/article_type). Not content: the unified fields are.
    "source_gender": pl.String(),
    "source_category": pl.String(),
    "source_subcategory": pl.String(),
    "source_article_type": pl.String(),
    "source_department": pl.String(),
}

# The fields that feed the embeddings; content_hash covers exactly these, so a price change
# does not trigger re-encoding while a new description or image list does.
CONTENT_FIELDS: tuple[str, ...] = (
    "name", "description", "brand", "gender", "category", "subcategory",
    "article_type", "colour", "usage", "season", "image_urls",
)

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),
    "line": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "product_id": pl.String(),
    "quarantined_at": pl.Datetime("us", "UTC"),
}



def reason_codes(reasons: pl.Series) -> Counter:
    """Rows per reason code (the reason's text before any ``:`` detail)."""
    return Counter(reasons.str.split(":").list.first().to_list())


class QuarantineCounts:
    """For a result with a ``quarantine`` table (QUARANTINE_SCHEMA): its rows per reason code."""

    quarantine: pl.DataFrame

    def quarantine_by_reason(self) -> dict[str, int]:
        """Rows per reason code, most common first."""
        return dict(reason_codes(self.quarantine["reason"]).most_common())


SOURCES: tuple[str, ...] = ("asos", "myntra_styles", "myntra_catalog")


MAX_PRICE = 1e6
