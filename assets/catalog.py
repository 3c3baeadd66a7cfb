"""Ingestion: raw catalogs to silver/products and silver/quarantine, validated by blocking checks."""


import time

import dagster as dg

from assets import metadata
from assets.raw import myntra_images_raw, raw_catalog_specs
from recsys.catalog import ingest_catalogs
from recsys.catalog.changes import catalog_changes, change_counts
from recsys.catalog.validation import validate_products
from resources import LakeResource

PRODUCTS = dg.AssetKey(["silver", "products"])
QUARANTINE = dg.AssetKey(["silver", "quarantine"])
PRODUCT_CHANGES = dg.AssetKey(["silver", "product_changes"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(PRODUCTS, group_name="catalog", kinds={"python", "polars", "parquet"},
                     deps=[*raw_catalog_specs, myntra_images_raw],
                     description="One row per valid product, unified schema (DESIGN.md: silver/products)."),
        dg.AssetSpec(QUARANTINE, group_name="catalog", kinds={"python", "polars", "parquet"},
                     deps=raw_catalog_specs,
                     description="Every rejected raw row: source, file, line, raw text and reason."),
        dg.AssetSpec(PRODUCT_CHANGES, group_name="catalog", kinds={"python", "polars", "parquet"},
                     deps=raw_catalog_specs,
                     description="What this load changed since the previous one: product_id and change "
                                 "(new | changed = content_hash differs | removed). Feeds incremental stages."),
    ],
    check_specs=[
        dg.AssetCheckSpec("products_expectations", asset=PRODUCTS, blocking=True,
                          description="Great Expectations suite: ids unique and non-null, names, price range, "
                                      "allowed genders/categories/sources, image URL schemes."),
        dg.AssetCheckSpec("row_accounting", asset=PRODUCTS, blocking=True,
                          description="Every raw record is exactly one product or one quarantine row."),
    ],
)
def silver_catalog(context: dg.AssetExecutionContext, lake: LakeResource):
    """Parse ASOS, Myntra styles and the Myntra catalog; write products and quarantine."""
    started = time.perf_counter()
    previous = lake.read_table_if_exists("silver/products")
    result = ingest_catalogs(lake.raw_dir, previous=previous)
    changes = catalog_changes(previous, result.products)
    lake.write_table(result.products, "silver/products")
    lake.write_table(result.quarantine, "silver/quarantine")
    lake.write_table(changes, "silver/product_changes")
    seconds = time.perf_counter() - started
    counts = change_counts(changes)
    context.log.info("ingested %d records: %d products (%s), %d quarantined, %d blank lines in %.1fs",
                     result.records, result.products.height, ", ".join(f"{n} {k}" for k, n in counts.items()),
                     result.quarantine.height, result.blank_lines, seconds)
    suite = validate_products(result.products)
    files = {f.file: f.records for f in result.files}
    yield dg.MaterializeResult(
        asset_key=PRODUCTS,
        metadata={
            "dagster/row_count": result.products.height,
            "products_by_source": metadata.counts(result.products_by_source(), "source", "products"),
            "raw_records_by_file": metadata.counts(files, "file", "records"),
            "encodings": {f.file: f.encoding for f in result.files},
            "blank_lines_skipped": result.blank_lines,
            "article_types_inferred": result.article_types_inferred,
            "image_refs_dropped": metadata.counts(dict(result.image_refs_dropped), "reason", "references"),
            "fields_truncated": metadata.counts(dict(result.fields_truncated), "field", "records"),
            "with_image_url": int((result.products["image_urls"].list.len() > 0).sum()),
            "seconds": round(seconds, 2),
            "preview": metadata.preview(result.products, ["product_id", "name", "brand", "gender", "article_type",
                                                          "colour", "price", "currency"]),
            "path": dg.MetadataValue.path(str(lake.path("silver/products.parquet"))),
        },
    )
    yield dg.MaterializeResult(
        asset_key=PRODUCT_CHANGES,
        metadata={
            "dagster/row_count": changes.height, **counts,
            "outcome": ", ".join(f"{n} {k}" for k, n in counts.items()),
            "first_load": previous is None,
            "preview": metadata.preview(changes),
            "path": dg.MetadataValue.path(str(lake.path("silver/product_changes.parquet"))),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": result.quarantine.height,
            "by_reason": metadata.counts(result.quarantine_by_reason(), "reason", "rows"),
            "preview": metadata.preview(result.quarantine, ["source", "file", "line", "reason", "raw"]),
            "path": dg.MetadataValue.path(str(lake.path("silver/quarantine.parquet"))),
        },
    )
    yield dg.AssetCheckResult(
        check_name="products_expectations", asset_key=PRODUCTS, passed=suite.success,
        description=suite.summary(),
        metadata={"expectations": len(suite.outcomes), "failed": len(suite.failed),
                  "details": metadata.counts({f"{o.expectation}({o.column})": o.unexpected_count
                                              for o in suite.outcomes}, "expectation", "unexpected")},
    )
    yield dg.AssetCheckResult(
        check_name="row_accounting", asset_key=PRODUCTS, passed=result.accounting_balanced(),
        metadata={"raw_records": result.records, "products": result.products.height,
                  "quarantined": result.quarantine.height, "blank_lines_skipped": result.blank_lines},
    )
