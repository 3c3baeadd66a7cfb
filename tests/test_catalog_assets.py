"""The ingestion assets materialize in-process on a tiny lake; the blocking checks gate downstream."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

import assets.catalog as catalog_assets
from assets.catalog import PRODUCT_CHANGES, PRODUCTS, silver_catalog
from recsys.catalog.ingest import IngestResult
from resources import default_resources


@dg.asset(deps=[PRODUCTS])
def downstream_of_products() -> None:
    """Stands for every stage that reads silver/products."""


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_ingestion_materializes_on_a_tiny_lake(tiny_lake: Path):
    result = dg.materialize([silver_catalog, downstream_of_products], resources=default_resources(str(tiny_lake)))
    assert result.success
    assert _check_results(result) == {"products_expectations": True, "row_accounting": True}
    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    quarantine = pl.read_parquet(tiny_lake / "silver" / "quarantine.parquet")
    assert set(products["source"]) == {"asos", "myntra_styles", "myntra_catalog"}
    assert products["product_id"].is_unique().all()
    assert quarantine.height > 0 and quarantine["reason"].null_count() == 0
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta[PRODUCTS]["dagster/row_count"].value == products.height
    assert {"preview", "products_by_source", "seconds"} <= set(meta[PRODUCTS])
    assert downstream_of_products.key in meta
    # The first load lists every product as new; a repeat load changes nothing.
    assert meta[PRODUCT_CHANGES]["new"].value == products.height
    again = dg.materialize([silver_catalog], resources=default_resources(str(tiny_lake)))
    assert pl.read_parquet(tiny_lake / "silver" / "product_changes.parquet").is_empty()
    assert again.success


def test_failed_expectations_block_downstream(tiny_lake: Path, monkeypatch):
    real_ingest = catalog_assets.ingest_catalogs

    def ingest_with_a_duplicate(raw_root, previous=None):
        good = real_ingest(raw_root, previous)
        bad = pl.concat([good.products, good.products.head(1)])
        return IngestResult(bad, good.quarantine, good.files)

    monkeypatch.setattr(catalog_assets, "ingest_catalogs", ingest_with_a_duplicate)
    result = dg.materialize([silver_catalog, downstream_of_products],
                            resources=default_resources(str(tiny_lake)), raise_on_error=False)
    assert not result.success
    checks = _check_results(result)
    assert checks["products_expectations"] is False
    assert checks["row_accounting"] is False  # one more product than records read
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert downstream_of_products.key not in materialized
