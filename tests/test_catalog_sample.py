"""The real embedded sample parses to known counts (see each SOURCE.md)."""

from __future__ import annotations

import polars as pl
import pytest

from recsys.catalog import ingest_catalogs
from recsys.catalog.load_checks import files_loaded, vocabulary_coverage
from recsys.catalog.validation import validate_products
from tests.conftest import SAMPLE_RAW


@pytest.fixture(scope="module")
def sample():
    return ingest_catalogs(SAMPLE_RAW)


def test_sample_counts_per_source(sample):
    # styles: 44,446 rows, 7 named "NA"; catalog: 12,491 records over 12,762 physical lines;
    # ASOS: 2,000 rows = 1,466 distinct product codes + 516 duplicates + 18 empty rows.
    assert sample.products_by_source() == {"myntra_styles": 44_439, "myntra_catalog": 12_491, "asos": 1_466}
    assert sample.quarantine_by_reason() == {"duplicate id": 516, "missing name": 25}
    assert sample.records == 44_446 + 12_491 + 2_000
    assert sample.accounting_balanced()


def test_sample_malformed_styles_rows_are_recovered(sample):
    names = dict(sample.products.select("product_id", "name").iter_rows())
    # file line 6044 has 11 fields: an unquoted comma in productDisplayName
    assert names["myntra_styles:44065"] == "Boss Men Perfume, After Shave Balm and Shower Gel Set"
    assert names["myntra_styles:4854"] == "Newfeel Unisex White, Blue and Orange Casual Shoes"


def test_sample_values_are_clean(sample):
    p = sample.products
    assert p.filter(pl.col("source") == "myntra_styles", pl.col("image_urls").list.len() > 0).height == 10_755
    for column in ("name", "colour", "usage", "gender", "brand"):
        assert p.filter(pl.col(column).is_in(["NA", "null", ""])).is_empty(), column
    assert p.filter(pl.col("source") == "asos")["price"].null_count() == 0
    assert p.filter(pl.col("source") == "asos")["currency"].unique().to_list() == ["GBP"]
    assert p.filter(pl.col("description").str.contains("\n")).height > 0  # multi-line catalog descriptions
    coat = p.filter(pl.col("product_id") == "asos:126704571").row(0, named=True)
    assert (coat["price"], coat["brand"], coat["colour"]) == (49.99, "New Look", "Neutral")
    assert "Product Code" not in coat["description"]


def test_sample_passes_the_expectation_suite(sample):
    result = validate_products(sample.products)
    assert result.success, result.summary()


def test_sample_vocabulary_is_fully_mapped(sample):
    assert vocabulary_coverage(sample).passed, sample.unmapped_vocabulary.most_common(10)
    assert files_loaded(sample).passed
    styles = sample.products.filter(pl.col("source") == "myntra_styles")
    for field in ("gender", "category", "subcategory", "article_type"):
        assert styles[field].to_list() == styles[f"source_{field}"].to_list(), field
    # 44 ASOS names say "unisex" and there is no gender column; every other ASOS gender stays null.
    asos = sample.products.filter(pl.col("source") == "asos")
    assert dict(asos["gender"].value_counts().iter_rows()) == {None: asos.height - 44, "Unisex": 44}


def test_product_ids_are_stable_across_runs(sample):
    again = ingest_catalogs(SAMPLE_RAW)
    assert again.products["product_id"].to_list() == sample.products["product_id"].to_list()
    assert again.products["content_hash"].to_list() == sample.products["content_hash"].to_list()
