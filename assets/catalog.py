"""Ingestion: raw catalogs to silver/products and silver/quarantine, validated by blocking checks."""

import time

import dagster as dg
import polars as pl

from assets import keys, metadata
from assets.raw import myntra_images_raw, raw_catalog_specs
from recsys.catalog import ingest_catalogs
from recsys.catalog.changes import catalog_changes, change_counts
from recsys.catalog.ingest import IngestResult
from recsys.catalog.load_checks import (DEFAULT_MAX_REJECTED_SHARE, CheckOutcome, degraded_rows_and_fields, files_loaded,
                                       vocabulary_coverage)
from recsys.catalog.validation import validate_products
from resources import LakeResource

GROUP = "catalog"


class SilverCatalogConfig(dg.Config):
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE
    """files_loaded blocks when more than this share of one raw file's records is quarantined (duplicate
    ids aside), or all of them: a wrong export or a changed header, not a few bad rows."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(keys.SILVER_PRODUCTS, group_name=GROUP, code_version="2026-12-07",
                     kinds={"python", "polars", "parquet"},
                     deps=[*raw_catalog_specs, myntra_images_raw],
                     description="One row per valid product, unified schema (docs/tables.md: silver/products)."),
        dg.AssetSpec(keys.SILVER_QUARANTINE, group_name=GROUP, code_version="2026-12-07",
                     kinds={"python", "polars", "parquet"},
                     deps=raw_catalog_specs,
                     description="Every rejected raw row: source, file, line, raw text and reason."),
        dg.AssetSpec(keys.PRODUCT_CHANGES, group_name=GROUP, code_version="2026-12-07",
                     kinds={"python", "polars", "parquet"},
                     deps=raw_catalog_specs,
                     description="What this load changed since the previous one: product_id and change "
                                 "(new | changed = content_hash differs | removed). Feeds incremental stages."),
    ],
    check_specs=[
        dg.AssetCheckSpec("products_expectations", asset=keys.SILVER_PRODUCTS, blocking=True,
                          description="Great Expectations suite: ids unique and non-null, names, price range, "
                                      "sources, unified genders/categories/subcategories/article types, "
                                      "image URL schemes."),
        dg.AssetCheckSpec("row_accounting", asset=keys.SILVER_PRODUCTS, blocking=True,
                          description="Every raw record is exactly one product or one quarantine row."),
        dg.AssetCheckSpec("files_loaded", asset=keys.SILVER_PRODUCTS, blocking=True,
                          description="The load has products, and no raw file had all or most "
                                      "(config max_rejected_share) of its records quarantined."),
        dg.AssetCheckSpec("degraded_rows_and_fields", asset=keys.SILVER_PRODUCTS, blocking=False,
                          description="Warns with the rows quarantined, fields cut and image references dropped, "
                                      "counted by reason."),
        dg.AssetCheckSpec("vocabulary_coverage", asset=keys.SILVER_PRODUCTS, blocking=False,
                          description="Warns with the raw category/gender/department values that no "
                                      "mapping in recsys/catalog/vocabularies knows, and their counts."),
    ],
)
def silver_catalog(context: dg.AssetExecutionContext, config: SilverCatalogConfig, lake: LakeResource):
    """Parse ASOS, Myntra styles and the Myntra catalog; write products and quarantine."""
    started = time.perf_counter()
    previous = lake.read_if_exists(keys.SILVER_PRODUCTS)
    result = ingest_catalogs(lake.raw_dir, previous=previous)
    changes = catalog_changes(previous, result.products)
    lake.write(result.products, keys.SILVER_PRODUCTS)
    lake.write(result.quarantine, keys.SILVER_QUARANTINE)
    lake.write(changes, keys.PRODUCT_CHANGES)
    seconds = time.perf_counter() - started
    counts = change_counts(changes)
    context.log.info("ingested %d records: %d products (%s), %d quarantined, %d blank lines in %.1fs",
                     result.records, result.products.height, ", ".join(f"{n} {k}" for k, n in counts.items()),
                     result.quarantine.height, result.blank_lines, seconds)
    coverage = vocabulary_coverage(result)
    yield dg.MaterializeResult(asset_key=keys.SILVER_PRODUCTS,
                               metadata=_products_metadata(lake, result, coverage, seconds))
    yield dg.MaterializeResult(asset_key=keys.PRODUCT_CHANGES,
                               metadata=_changes_metadata(lake, changes, counts, previous))
    yield dg.MaterializeResult(asset_key=keys.SILVER_QUARANTINE, metadata=_quarantine_metadata(lake, result))
    suite = validate_products(result.products)
    yield dg.AssetCheckResult(
        check_name="products_expectations", asset_key=keys.SILVER_PRODUCTS, passed=suite.success,
        description=suite.summary(),
        metadata={"expectations": len(suite.outcomes), "failed": len(suite.failed),
                  "details": metadata.counts({f"{o.expectation}({o.column})": o.unexpected_count
                                              for o in suite.outcomes}, "expectation", "unexpected")},
    )
    yield dg.AssetCheckResult(
        check_name="row_accounting", asset_key=keys.SILVER_PRODUCTS, passed=result.accounting_balanced(),
        metadata={"raw_records": result.records, "products": result.products.height,
                  "quarantined": result.quarantine.height, "blank_lines_skipped": result.blank_lines},
    )
    yield _check_result("files_loaded", files_loaded(result, config.max_rejected_share), "file", "rejected records")
    yield _check_result("degraded_rows_and_fields", degraded_rows_and_fields(result), "what", "count",
                        severity=dg.AssetCheckSeverity.WARN)
    yield _check_result("vocabulary_coverage", coverage, "source field value", "products",
                        severity=dg.AssetCheckSeverity.WARN)


def _check_result(name: str, outcome: CheckOutcome, key: str, value: str,
                  severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, asset_key=keys.SILVER_PRODUCTS, passed=outcome.passed,
                               severity=severity,
                               description=outcome.description,
                               metadata={"details": metadata.counts(outcome.rows, key, value)})


def _products_metadata(lake: LakeResource, result: IngestResult, coverage: CheckOutcome, seconds: float) -> dict:
    files = {f.file: f.records for f in result.files}
    return {
        "dagster/row_count": result.products.height,
        "products_by_source": metadata.counts(result.products_by_source(), "source", "products"),
        "raw_records_by_file": metadata.counts(files, "file", "records"),
        "encodings": {f.file: f.encoding for f in result.files},
        "blank_lines_skipped": result.blank_lines,
        "article_types_inferred": result.article_types_inferred,
        "genders_inferred": result.genders_inferred,
        "unmapped_vocabulary_values": len(result.unmapped_vocabulary),
        "unmapped_vocabulary": metadata.counts(coverage.rows, "source field value", "products"),
        "image_refs_dropped": metadata.counts(dict(result.image_refs_dropped), "reason", "references"),
        "fields_truncated": metadata.counts(dict(result.fields_truncated), "field", "records"),
        "with_image_url": int((result.products["image_urls"].list.len() > 0).sum()),
        "seconds": round(seconds, 2),
        "preview": metadata.preview(result.products, ["product_id", "name", "brand", "gender", "article_type",
                                                      "colour", "price", "currency"]),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.SILVER_PRODUCTS))),
    }


def _changes_metadata(lake: LakeResource, changes: pl.DataFrame, counts: dict[str, int],
                      previous: pl.DataFrame | None) -> dict:
    return {
        "dagster/row_count": changes.height, **counts,
        "outcome": ", ".join(f"{n} {k}" for k, n in counts.items()),
        "first_load": previous is None,
        "preview": metadata.preview(changes),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.PRODUCT_CHANGES))),
    }


def _quarantine_metadata(lake: LakeResource, result: IngestResult) -> dict:
    return {
        "dagster/row_count": result.quarantine.height,
        "by_reason": metadata.counts(result.quarantine_by_reason(), "reason", "rows"),
        "preview": metadata.preview(result.quarantine, ["source", "file", "line", "reason", "raw"]),
        "path": dg.MetadataValue.path(str(lake.table_path(keys.SILVER_QUARANTINE))),
    }
