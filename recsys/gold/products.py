"""gold/products: the catalog dimension every recommendation row joins to.

The silver columns apps filter on (gender, category, article type, colour, brand, price), a
``price_band`` per currency, and where the cached image lives. ``has_image`` means the image cache
holds an image for the product; ``has_text`` comes from the embeddings when they exist (what the
encoder actually used), else from whether the product has a name or description.
"""

from __future__ import annotations

import polars as pl

from recsys.gold.schemas import GOLD_TABLES, conform

PRICE_BANDS: tuple[str, str, str] = ("low", "mid", "high")


def price_bands(products: pl.DataFrame) -> pl.Series:
    """'low' / 'mid' / 'high' by the product's price tercile within its currency (null without a price)."""
    priced = pl.col("price").is_not_null() & pl.col("currency").is_not_null()
    low = pl.col("price").filter(priced).quantile(1 / 3, "linear").over("currency")
    high = pl.col("price").filter(priced).quantile(2 / 3, "linear").over("currency")
    band = (pl.when(~priced).then(pl.lit(None, dtype=pl.String))
            .when(pl.col("price") <= low).then(pl.lit(PRICE_BANDS[0]))
            .when(pl.col("price") <= high).then(pl.lit(PRICE_BANDS[1]))
            .otherwise(pl.lit(PRICE_BANDS[2])))
    return products.select(band.alias("price_band"))["price_band"]


def build_products(silver: pl.DataFrame, primary_images: pl.DataFrame | None, embeddings: pl.DataFrame | None,
                   build_id: str) -> pl.DataFrame:
    """One row per silver product.

    primary_images: product_id, image_path (``recsys.images.primary_images``), or None before the
    image cache ran. embeddings: product_id, has_text (features/item_embeddings), or None.
    """
    products = silver.with_columns(price_band=price_bands(silver))
    images = (primary_images.select("product_id", "image_path").unique("product_id", keep="first")
              if primary_images is not None else pl.DataFrame(schema={"product_id": pl.String, "image_path": pl.String}))
    products = products.join(images, on="product_id", how="left")
    text_present = (pl.col("name").fill_null("").str.strip_chars().str.len_chars()
                    + pl.col("description").fill_null("").str.strip_chars().str.len_chars()) > 0
    if embeddings is not None:
        flags = embeddings.select("product_id", pl.col("has_text").alias("_encoded_text"))
        products = products.join(flags, on="product_id", how="left").with_columns(
            has_text=pl.col("_encoded_text").fill_null(text_present))
    else:
        products = products.with_columns(has_text=text_present)
    products = products.with_columns(has_image=pl.col("image_path").is_not_null(), build_id=pl.lit(build_id))
    return conform(products, GOLD_TABLES["products"])
