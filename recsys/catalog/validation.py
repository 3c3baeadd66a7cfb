"""Great Expectations suite for silver/products.

Great Expectations has no polars source, so the suites run on pandas views of the frame: one of
the product columns, and one row per image URL with its scheme.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from recsys.catalog.schema import MAX_PRICE, SOURCES
from recsys.catalog.vocabulary import UNIFIED_FIELDS, unified_vocabulary
from recsys.images.local import RAW_FOLDER

# Image references: http(s) URLs, and local files as lake-relative paths under raw/ (never file://
# URIs, which would carry the build machine's path).
LAKE_PATH = "raw/ path"
URL_SCHEMES = ("http", "https", LAKE_PATH)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    sample: list


@dataclass(frozen=True)
class SuiteResult:
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        if self.success:
            return f"all {len(self.outcomes)} expectations passed"
        return "; ".join(f"{o.expectation}({o.column}): {o.unexpected_count} unexpected, e.g. {o.sample[:3]}"
                         for o in self.failed)


def _product_expectations(gx) -> list:
    E = gx.expectations
    # Unified vocabulary values come only from the reviewed mapping files and inference over the
    # same vocabulary (outside data lands in source_* columns), so a value outside it is a bug
    # in the mapping or the code that would put wrong facets in every table: blocking.
    vocabulary = unified_vocabulary()
    return [
        E.ExpectColumnValuesToNotBeNull(column="product_id"),
        E.ExpectColumnValuesToBeUnique(column="product_id"),
        E.ExpectColumnValuesToMatchRegex(column="product_id", regex=r"^[a-z_]+:[A-Za-z0-9_.\-]+$"),
        E.ExpectColumnValuesToBeInSet(column="source", value_set=list(SOURCES)),
        E.ExpectColumnValuesToNotBeNull(column="name"),
        E.ExpectColumnValueLengthsToBeBetween(column="name", min_value=1, max_value=300),
        E.ExpectColumnValuesToBeBetween(column="price", min_value=0, max_value=MAX_PRICE),
        *(E.ExpectColumnValuesToBeInSet(column=field, value_set=list(vocabulary.values(field)))
          for field in UNIFIED_FIELDS),
        E.ExpectColumnValuesToNotBeNull(column="content_hash"),
    ]


def _url_expectations(gx) -> list:
    return [gx.expectations.ExpectColumnValuesToBeInSet(column="scheme", value_set=list(URL_SCHEMES))]


def _outcomes(context, name: str, frame, expectations: list) -> list[ExpectationOutcome]:
    import great_expectations as gx

    batch = (context.data_sources.add_pandas(name).add_dataframe_asset(name)
             .add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame}))
    suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    outcomes = []
    for r in batch.validate(suite, result_format="SUMMARY").results:
        res = r.result or {}
        outcomes.append(ExpectationOutcome(
            expectation=r.expectation_config.type, column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success), unexpected_count=int(res.get("unexpected_count") or 0),
            sample=list(res.get("partial_unexpected_list") or [])[:10]))
    return outcomes


def validate_products(products: pl.DataFrame) -> SuiteResult:
    """Run the products suite; never raises on bad data, returns each expectation's outcome."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    product_view = products.select("product_id", "source", "name", "price", *UNIFIED_FIELDS,
                                   "content_hash").to_pandas()
    url_view = (products.select("product_id", "image_urls").explode("image_urls").drop_nulls("image_urls")
                .select("product_id", scheme=pl.when(pl.col("image_urls").str.starts_with(f"{RAW_FOLDER}/"))
                        .then(pl.lit(LAKE_PATH))
                        .otherwise(pl.col("image_urls").str.extract(r"^([A-Za-z][A-Za-z0-9+.\-]*):", 1)
                                   .fill_null("(none)")))).to_pandas()
    outcomes = _outcomes(context, "silver_products", product_view, _product_expectations(gx))
    outcomes += _outcomes(context, "silver_products_image_urls", url_view, _url_expectations(gx))
    return SuiteResult(success=all(o.success for o in outcomes), outcomes=outcomes)
