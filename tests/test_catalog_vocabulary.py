"""Source vocabularies as data: retailer categories, departments and genders land in the unified
vocabulary; unknown values are kept, counted and never fail or quarantine a product."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.catalog import vocabulary
from recsys.catalog.ingest import ingest_catalogs
from recsys.catalog.load_checks import files_loaded, vocabulary_coverage
from recsys.catalog.schema import PRODUCT_SCHEMA, SOURCES
from recsys.catalog.validation import validate_products
from recsys.catalog.vocabulary import (SOURCE_FIELDS, source_column, source_vocabulary, unified_vocabulary,
                                       vocabulary_key)
from tests.conftest import add_asos_export

# sku: (category, subcategory, article_type, gender) for the rows of tests/data/asos_export.
EXPECTED = {
    # the export's own product types, in odd case and spelling
    "203113460": ("Apparel", "Topwear", "Tops", None),            # Vest top
    "201872233": ("Apparel", "Innerwear", "Bra", None),           # Bra
    "202980011": ("Apparel", "Bottomwear", "Trousers", None),     # Trousers
    "204025588": ("Apparel", "Dress", "Dresses", None),           # Dresses
    "204351106": ("Apparel", "Topwear", "Coats", None),           # COATS & JACKETS, "trench coat"
    "203344871": ("Apparel", "Topwear", "Jackets", None),         # coats and jackets, "puffer jacket"
    "201563432": ("Apparel", "Bottomwear", "Jeans", None),        # Jeans
    "202211347": ("Footwear", "Shoes", None, None),               # SHOES, "trainers": no article type
    "203873001": ("Accessories", "Bags", None, None),             # Bags, "cross body bag"
    "202654410": ("Accessories", "Jewellery", "Earrings", None),  # Jewellery, "hoop earrings"
    "203990044": ("Apparel", "Topwear", "Tops", None),            # Tops
    "201017222": ("Apparel", "Topwear", "Tshirts", None),         # t-shirts and vests, "t-shirt"
    "204100388": ("Apparel", "Topwear", None, None),              # "  Knitwear ", "cardigan"
    "202334455": ("Apparel", "Bottomwear", "Swimwear", None),     # Swimwear
    "201872240": ("Apparel", "Innerwear", "Briefs", None),        # Lingerie, "briefs"
    "203345678": ("Accessories", "Eyewear", "Sunglasses", None),  # Sunglasses
    "202789900": ("Accessories", "Headwear", "Hat", None),        # Hats
    # unknown categories: inferred from the name where it allows, else null
    "204411122": (None, None, None, None),                        # Kaftans, "kaftan"
    "203212121": ("Apparel", "Bottomwear", "Skirts", None),       # Going Out, "midi skirt"
    "204500012": ("Apparel", "Topwear", "Tshirts", "Unisex"),     # Gifts, "COLLUSION Unisex logo t-shirt"
    # H&M-style departments and genders
    "301000001": ("Apparel", "Topwear", "Tops", "Women"),         # Vest top, Ladieswear
    "301000002": ("Apparel", "Topwear", "Sweaters", "Men"),       # Sweater, Menswear, MEN
    "301000003": ("Apparel", "Bottomwear", "Shorts", "Women"),    # Shorts, Divided
    "301000004": ("Apparel", "Topwear", None, "Unisex Kids"),     # Bodysuits, Baby/Children
    "301000005": ("Apparel", "Bottomwear", "Tights", "Women"),    # Leggings/Tights, Sport, female
    "301000006": ("Apparel", "Bottomwear", "Shorts", None),       # Shorts, SPORT: no gender
    "301000007": ("Apparel", "Innerwear", "Briefs", "Women"),     # Underwear bottom, Lingeries/Tights
    "301000008": ("Apparel", "Topwear", "Tops", "Women"),         # Blouse, gender Women
    "301000009": (None, None, None, None),                        # Candle, H&M HOME, Adult: all unknown
    "301000010": ("Apparel", "Topwear", "Sweatshirts", "Unisex"),  # Hoodie, Divided, Unisex: gender column wins
    "301000011": ("Apparel", "Bottomwear", "Jeans", "Women"),     # Jeans, "ASOS DESIGN women's ..."
}
UNMAPPED = {("asos", "category", "Kaftans"), ("asos", "category", "Going Out"), ("asos", "category", "Gifts"),
            ("asos", "category", "Candle"), ("asos", "department", "H&M HOME"), ("asos", "gender", "Adult")}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    raw = tmp_path_factory.mktemp("export") / "raw"
    add_asos_export(raw)
    return ingest_catalogs(raw)


def test_asos_export_lands_in_the_unified_vocabulary(export):
    products = {r["source_id"]: r for r in export.products.iter_rows(named=True)}
    got = {sku: tuple(products[sku][f] for f in ("category", "subcategory", "article_type", "gender"))
           for sku in EXPECTED}
    assert got == EXPECTED
    assert export.quarantine.is_empty()  # nothing is quarantined for its vocabulary
    assert validate_products(export.products).success


def test_asos_export_keeps_raw_values_and_counts_the_unmapped(export):
    products = {r["source_id"]: r for r in export.products.iter_rows(named=True)}
    assert products["204351106"]["source_category"] == "COATS & JACKETS"
    assert products["204100388"]["source_category"] == "Knitwear"
    assert products["204411122"]["source_category"] == "Kaftans"
    assert (products["301000009"]["source_department"], products["301000009"]["source_gender"]) == ("H&M HOME", "Adult")
    assert products["203113460"]["source_department"] is None
    assert set(export.unmapped_vocabulary) == UNMAPPED
    assert all(count == 1 for count in export.unmapped_vocabulary.values())
    coverage = vocabulary_coverage(export)
    assert not coverage.passed
    assert "asos category 'Kaftans'" in coverage.rows and "asos department 'H&M HOME'" in coverage.rows
    assert files_loaded(export).passed


@pytest.mark.parametrize(("a", "b"), [
    ("COATS & JACKETS", "coats and jackets"), ("T-shirts & Vests", "t shirts and vests"),
    ("  Knitwear ", "KNITWEAR"), ("Face + Body", "face and body"), ("Women's", "womens"),
    ("Baby/Children", "baby children"),
])
def test_matching_ignores_case_space_and_punctuation(a, b):
    assert vocabulary_key(a) == vocabulary_key(b)


def test_every_source_has_a_valid_mapping_and_raw_columns():
    unified = unified_vocabulary()
    for source in SOURCES:
        assert source_vocabulary(source).source == source  # loads, every target checked against unified.csv
    assert {"Coats", "Tshirts", "Bra"} <= set(unified.article_types)
    assert {source_column(f) for f in SOURCE_FIELDS} <= set(PRODUCT_SCHEMA)


def test_the_raw_field_of_the_same_name_wins():
    # Myntra's masterCategory says "Free Items" for a tie: the article type's parent does not override it.
    unified, unmapped = source_vocabulary("myntra_styles").unify(
        {"category": "Free Items", "subcategory": "Free Gifts", "article_type": "Ties", "gender": "Men"})
    assert unified == {"category": "Free Items", "subcategory": "Free Gifts", "article_type": "Ties", "gender": "Men"}
    assert unmapped == []
    # An ASOS gender column beats the department's gender.
    unified, _ = source_vocabulary("asos").unify({"department": "Ladieswear", "gender": "Unisex"})
    assert unified["gender"] == "Unisex"


@pytest.mark.parametrize(("raw", "gender"), [
    ("men", "Men"), ("Female", "Women"), ("Unisex Kids", "Unisex Kids"), ("robots", None),
])
def test_gender_synonyms_and_unknowns(raw, gender):
    unified, unmapped = source_vocabulary("myntra_catalog").unify({"gender": raw})
    assert unified["gender"] == gender
    assert unmapped == ([] if gender else [("gender", raw)])


@pytest.fixture
def vocabulary_dir(tmp_path, monkeypatch):
    """A copy of the shipped vocabularies that a test may break."""
    folder = tmp_path / "vocabularies"
    shutil.copytree(vocabulary.VOCABULARY_DIR, folder)
    monkeypatch.setattr(vocabulary, "VOCABULARY_DIR", folder)
    vocabulary.unified_vocabulary.cache_clear()
    vocabulary.source_vocabulary.cache_clear()
    yield folder
    vocabulary.unified_vocabulary.cache_clear()
    vocabulary.source_vocabulary.cache_clear()


@pytest.mark.parametrize(("row", "error"), [
    ("category,Ponchos,Outerwear,,,,", "category 'Outerwear' is not in unified.csv"),
    ("category,coats and jackets,Apparel,,,,", "is listed twice"),
    ("colour,Red,,,,,", "unknown field 'colour'"),
])
def test_a_broken_mapping_file_fails_with_its_line(vocabulary_dir: Path, row: str, error: str):
    with open(vocabulary_dir / "asos.csv", "a") as fh:
        fh.write(row + "\n")
    with pytest.raises(ValueError, match=error) as raised:
        source_vocabulary("asos")
    assert "asos.csv line" in str(raised.value)

