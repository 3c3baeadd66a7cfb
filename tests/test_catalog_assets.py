"""The ingestion assets materialize in-process on a tiny lake; the blocking checks gate downstream."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

import assets.catalog as catalog_assets
from assets import keys
from assets.catalog import silver_catalog
from recsys.catalog.ingest import IngestResult
from resources import default_resources
from tests.conftest import add_asos_export


@dg.asset(deps=[keys.SILVER_PRODUCTS])
def downstream_of_products() -> None:
    """Stands for every stage that reads silver/products."""


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_ingestion_materializes_on_a_tiny_lake(tiny_lake: Path):
    result = dg.materialize([silver_catalog, downstream_of_products], resources=default_resources(str(tiny_lake)))
    assert result.success
    # the sample's rows include real faults (a duplicate id, a missing name): they warn, never block
    assert _check_results(result) == {"products_expectations": True, "row_accounting": True, "files_loaded": True,
                                      "degraded_rows_and_fields": False, "vocabulary_coverage": True}
    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    quarantine = pl.read_parquet(tiny_lake / "silver" / "quarantine.parquet")
    assert set(products["source"]) == {"asos", "myntra_styles", "myntra_catalog"}
    assert products["product_id"].is_unique().all()
    assert quarantine.height > 0 and quarantine["reason"].null_count() == 0
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta[keys.SILVER_PRODUCTS]["dagster/row_count"].value == products.height
    assert {"preview", "products_by_source", "seconds"} <= set(meta[keys.SILVER_PRODUCTS])
    assert downstream_of_products.key in meta
    # The first load lists every product as new; a repeat load changes nothing.
    assert meta[keys.PRODUCT_CHANGES]["new"].value == products.height
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


def test_unknown_retailer_vocabulary_warns_and_does_not_block(tiny_lake: Path):
    add_asos_export(tiny_lake / "raw")
    result = dg.materialize([silver_catalog, downstream_of_products], resources=default_resources(str(tiny_lake)))
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in evaluations.items()} == {
        "products_expectations": True, "row_accounting": True, "files_loaded": True,
        "degraded_rows_and_fields": False, "vocabulary_coverage": False}
    assert evaluations["degraded_rows_and_fields"].severity == dg.AssetCheckSeverity.WARN
    coverage = evaluations["vocabulary_coverage"]
    assert coverage.severity == dg.AssetCheckSeverity.WARN
    assert "asos category 'Kaftans'" in coverage.metadata["details"].value
    meta = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta[keys.SILVER_PRODUCTS]["unmapped_vocabulary_values"].value == 6
    assert "asos department 'H&M HOME'" in meta[keys.SILVER_PRODUCTS]["unmapped_vocabulary"].value
    assert downstream_of_products.key in meta
    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    coat = products.filter(pl.col("product_id") == "asos:204351106").row(0, named=True)
    assert (coat["source_category"], coat["category"], coat["article_type"]) == ("COATS & JACKETS", "Apparel", "Coats")


def _blocked(result: dg.ExecuteInProcessResult) -> bool:
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    return not result.success and downstream_of_products.key not in materialized


def test_a_wholly_quarantined_file_blocks_downstream(tiny_lake: Path):
    (tiny_lake / "raw" / "asos" / "export.csv").write_text("Product;Price;Colour\nTrench coat;49.99;Camel\n"
                                                          "Puffer jacket;55.00;Black\n")
    result = dg.materialize([silver_catalog, downstream_of_products], resources=default_resources(str(tiny_lake)),
                            raise_on_error=False)
    assert _check_results(result)["files_loaded"] is False
    assert _blocked(result)
    loaded = {e.check_name: e for e in result.get_asset_check_evaluations()}["files_loaded"]
    assert "asos/export.csv: 2 of 2 records rejected" in loaded.description


def test_the_rejected_share_threshold_is_asset_config(tiny_lake: Path):
    styles = tiny_lake / "raw" / "myntra" / "styles" / "styles.csv"
    lines = styles.read_text().splitlines(keepends=True)
    # 60% of the styles rows lose their name: a bad export, not a few bad rows.
    broken = [",".join(line.split(",")[:9]) + ",NA\n" if i % 5 < 3 else line for i, line in enumerate(lines[1:])]
    styles.write_text(lines[0] + "".join(broken))
    resources = default_resources(str(tiny_lake))
    assert _blocked(dg.materialize([silver_catalog, downstream_of_products], resources=resources,
                                   raise_on_error=False))
    lenient = {"ops": {"silver_catalog": {"config": {"max_rejected_share": 0.7}}}}
    assert dg.materialize([silver_catalog, downstream_of_products], resources=resources, run_config=lenient).success


def test_an_empty_load_blocks_downstream(tmp_path: Path):
    (tmp_path / "lake" / "raw" / "asos").mkdir(parents=True)
    (tmp_path / "lake" / "raw" / "asos" / "asos.csv").write_text("name,price,color,description,images,category\n")
    result = dg.materialize([silver_catalog, downstream_of_products],
                            resources=default_resources(str(tmp_path / "lake")), raise_on_error=False)
    assert _check_results(result)["files_loaded"] is False
    assert _blocked(result)
