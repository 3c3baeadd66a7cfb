"""Short, true reasons for recommended rows, derived from the signal that ranked the row highest.

A reason only states what the data says: attribute equality is checked on the two products,
"bought together" only when at least one shopper bought both, the anchor item ("looks like X") is
the user's own item closest to the recommendation in the space of the signal that dominated.
"""

from __future__ import annotations

import polars as pl

ANCHOR_NAME_CHARS = 40

SAME_TYPE_AND_COLOUR = "same article type and colour"
SAME_TYPE = "same article type, looks similar"
LOOKS_SIMILAR = "looks similar"
SIMILAR_DESCRIPTION = "similar description"
SAME_SHOPPERS = "liked by the same shoppers"
BOUGHT_TOGETHER_ITEM = "often bought together"
SIMILAR_SHOPPERS = "fits what similar shoppers like"
POPULAR = "popular with shoppers"


def _short(name: pl.Expr) -> pl.Expr:
    return (pl.when(name.str.len_chars() > ANCHOR_NAME_CHARS)
            .then(name.str.slice(0, ANCHOR_NAME_CHARS - 1).str.strip_chars() + "…")
            .otherwise(name)).fill_null("an earlier item")


def _attributes(products: pl.DataFrame, suffix: str) -> pl.DataFrame:
    return products.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(f"pos{suffix}"),
        pl.col("article_type").alias(f"article_type{suffix}"),
        pl.col("colour").alias(f"colour{suffix}"),
        pl.col("has_image").alias(f"has_image{suffix}"),
        pl.col("name").alias(f"name{suffix}"),
    )


def similar_item_reasons(rows: pl.DataFrame, products: pl.DataFrame) -> pl.Series:
    """Reasons for similar-item rows.

    rows: ``query``, ``item`` (positions in ``products``), ``signal`` (dominant signal name),
    ``bought_together`` (bool). products: position-aligned ``name``, ``article_type``, ``colour``,
    ``has_image``.
    """
    frame = (rows.with_row_index("_row")
             .join(_attributes(products, "_q"), left_on="query", right_on="pos_q", how="left")
             .join(_attributes(products, "_i"), left_on="item", right_on="pos_i", how="left")
             .sort("_row"))
    same_type = pl.col("article_type_q").is_not_null() & (pl.col("article_type_q") == pl.col("article_type_i"))
    same_colour = pl.col("colour_q").is_not_null() & (pl.col("colour_q") == pl.col("colour_i"))
    both_images = pl.col("has_image_q").fill_null(False) & pl.col("has_image_i").fill_null(False)
    signal = pl.col("signal")
    reason = (
        pl.when((signal == "content") & same_type & same_colour).then(pl.lit(SAME_TYPE_AND_COLOUR))
        .when((signal == "content") & same_type & both_images).then(pl.lit(SAME_TYPE))
        .when((signal == "content") & both_images).then(pl.lit(LOOKS_SIMILAR))
        .when(signal == "content").then(pl.lit(SIMILAR_DESCRIPTION))
        .when((signal == "als") & pl.col("bought_together")).then(pl.lit(BOUGHT_TOGETHER_ITEM))
        .when(signal == "als").then(pl.lit(SAME_SHOPPERS))
        .when(signal == "two_tower").then(pl.lit(SIMILAR_SHOPPERS))
        .when(signal == "popularity").then(pl.lit(POPULAR))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return frame.select(reason.alias("reason"))["reason"]


def user_reasons(rows: pl.DataFrame, products: pl.DataFrame) -> pl.Series:
    """Reasons for user-recommendation rows.

    rows: ``item`` and ``anchor`` (positions in ``products``; anchor = the user's own item closest
    to the recommendation under the dominant signal, null for popularity), ``signal``,
    ``bought_together`` (someone bought both the anchor and the item).
    """
    frame = (rows.with_row_index("_row")
             .join(_attributes(products, "_a"), left_on="anchor", right_on="pos_a", how="left")
             .join(_attributes(products, "_i"), left_on="item", right_on="pos_i", how="left")
             .sort("_row"))
    anchor = _short(pl.col("name_a"))
    both_images = pl.col("has_image_a").fill_null(False) & pl.col("has_image_i").fill_null(False)
    signal = pl.col("signal")
    reason = (
        pl.when((signal == "content") & both_images).then(pl.concat_str(pl.lit("looks like "), anchor))
        .when(signal == "content").then(pl.concat_str(pl.lit("similar to "), anchor))
        .when((signal == "als") & pl.col("bought_together")).then(pl.concat_str(pl.lit("bought together with "), anchor))
        .when(signal == "als").then(pl.concat_str(pl.lit("shoppers who liked "), anchor, pl.lit(" chose this")))
        .when(signal == "two_tower").then(pl.concat_str(pl.lit("matches your taste for "), anchor))
        .when(signal == "popularity").then(pl.lit(POPULAR))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return frame.select(reason.alias("reason"))["reason"]


def style_reasons(signal: pl.Series, style: str, matched: pl.Series, style_popular: pl.Series) -> pl.Series:
    """Reasons for style rows.

    ``matched``: each item's attribute values the style likes ("Shirts, Formal"), null if none;
    ``style_popular``: whether shoppers of that style chose the item. The dominant signal picks
    the reason; when it has nothing true to say (a fit-ranked item with no liked attribute), the
    other fact about the item is used.
    """
    frame = pl.DataFrame({"signal": signal, "matched": matched, "style_popular": style_popular})
    fit_text = pl.concat_str(pl.lit(f"{style} style: "), pl.col("matched"))
    popular_text = pl.lit(f"popular with {style} style")
    has_match, popular = pl.col("matched").is_not_null(), pl.col("style_popular")
    reason = (
        pl.when((pl.col("signal") == "style_fit") & has_match).then(fit_text)
        .when((pl.col("signal") == "style_popularity") & popular).then(popular_text)
        .when(pl.col("signal") == "popularity").then(pl.lit(POPULAR))
        .when(popular).then(popular_text)
        .when(has_match).then(fit_text)
        .otherwise(pl.lit(POPULAR))
    )
    return frame.select(reason.alias("reason"))["reason"]


def reason_kind_counts(table: pl.DataFrame, top: int = 12) -> dict[str, int]:
    """Rows per kind of reason, the anchor products' names folded away ("looks like X"), most common first.

    Counted per distinct reason first: a million users' lists are 50M rows, but far fewer reasons."""
    return reason_kinds(table.group_by("reason").len(), top)


def reason_kinds(per_reason: pl.DataFrame, top: int = 12) -> dict[str, int]:
    """``reason_kind_counts`` from rows per distinct reason (columns reason, len)."""
    kinds = (per_reason
             .with_columns(kind=pl.col("reason").str.replace(r" (with|like|to|for) .*$", " … X")
                           .str.replace(r"^shoppers who liked .*", "shoppers who liked X chose this"))
             .group_by("kind").agg(pl.col("len").sum()).sort(["len", "kind"], descending=[True, False]).head(top))
    return dict(kinds.iter_rows())
