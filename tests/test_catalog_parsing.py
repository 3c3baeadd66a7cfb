"""Parsers on hand-written nasty rows: prices, image lists, text, CSV shapes, each source."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.catalog.csv_records import MAX_FIELD_CHARS, MAX_RECORD_LINES, read_csv_records
from recsys.catalog.image_urls import ImageUrlReport, parse_image_urls, split_image_field
from recsys.catalog.ingest import ingest_catalogs
from recsys.catalog.price import parse_price
from recsys.catalog.sources import asos_source_id
from recsys.catalog.text import clean_description, clean_short, null_if_missing, title_case_colour


@pytest.mark.parametrize(
    ("raw", "value", "currency"),
    [
        ("49.99", 49.99, "GBP"),
        ("Now  40.00", 40.0, "GBP"),
        ("Was £50.00 Now £25.00", 25.0, "GBP"),
        ("€1,299.50", 1299.5, "EUR"),
        ("Rs. 899", 899.0, "INR"),
        ("0", 0.0, "GBP"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_price_parses_real_formats(raw, value, currency):
    parsed = parse_price(raw, default_currency="GBP")
    assert parsed.error is None
    assert parsed.value == value
    assert parsed.currency == currency


@pytest.mark.parametrize("raw", ["free", "-5", "2000000", "nan", "inf", "12 or 14", "£"])
def test_price_rejects_garbage_with_a_reason(raw):
    parsed = parse_price(raw, default_currency="GBP")
    assert parsed.value is None
    assert parsed.error and ":" in parsed.error


def test_image_field_python_literal_json_and_broken():
    assert split_image_field("['https://a/1.jpg', 'https://a/2.jpg']") == ["https://a/1.jpg", "https://a/2.jpg"]
    assert split_image_field('["https://a/1.jpg"]') == ["https://a/1.jpg"]
    assert split_image_field("['https://a/1.jpg', 'https://a/2") == ["https://a/1.jpg"]
    assert split_image_field("__import__('os').system('rm -rf /')") == ["__import__('os').system('rm -rf /')"]
    assert split_image_field("[" * 100_000) == []
    assert split_image_field("NA") == ["NA"]
    assert split_image_field("") == []


def test_image_urls_keep_only_allowed_schemes_and_paths_inside_raw(tmp_path: Path):
    raw = tmp_path / "raw"
    (raw / "asos").mkdir(parents=True)
    (raw / "asos" / "img.jpg").write_bytes(b"x")
    report = ImageUrlReport()
    field = str([
        "https://cdn.example/a.jpg", "http://cdn.example/a.jpg", "https://cdn.example/a.jpg",
        "ftp://x/a.jpg", "javascript:alert(1)", "data:image/png;base64,AAAA",
        "file:///etc/passwd", "../../secret.jpg", "img.jpg", (raw / "asos" / "img.jpg").as_uri(), "https:///nohost",
    ])
    urls = parse_image_urls(field, raw, raw / "asos", report)
    assert urls == ["https://cdn.example/a.jpg", "http://cdn.example/a.jpg", (raw / "asos" / "img.jpg").resolve().as_uri()]
    assert report.dropped["path escapes the raw folder"] == 2
    assert report.dropped["scheme 'ftp' not allowed"] == 1
    assert sum(report.dropped.values()) == 6


def test_text_cleaning():
    assert null_if_missing(" NA ") is None
    assert null_if_missing("null") is None
    assert null_if_missing("Nadia") == "Nadia"
    assert clean_short("  Blue\n  Jeans &amp; co ") == "Blue Jeans & co"
    assert title_case_colour(" BLACK") == "Black"
    html = "<p>Soft <b>cotton</b></p><script>alert(1)</script><ul><li>Regular fit</li></ul>"
    assert clean_description(html) == "Soft cotton\nRegular fit"
    assert clean_description("Low-key layeringNotch collarButton placket", split_bullets=True) == \
        "Low-key layering. Notch collar. Button placket"
    assert len(clean_description("x" * 50_000)) == 5_000


def test_asos_id_comes_from_the_record_not_its_position():
    row = {"name": "Coat", "description": "Coats by XProduct Code: 126704571", "images": "", "color": "Red"}
    assert asos_source_id(row) == "126704571"
    assert asos_source_id({**row, "sku": "SKU-9"}) == "SKU-9"
    no_code = {"name": "Coat", "description": "no code", "images": "['https://a/b.jpg']", "color": "Red"}
    assert asos_source_id(no_code) == asos_source_id(dict(no_code)) != asos_source_id({**no_code, "color": "Blue"})
    assert asos_source_id({"name": "", "description": "", "images": "", "color": ""}) is None


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_csv_records_bom_crlf_multiline_blank_and_nul(tmp_path: Path):
    data = "\ufeffa,b\r\n1,\"two\r\nlines\"\r\n\r\n3,x\x00y\r\n".encode()
    info, records = read_csv_records(_write(tmp_path / "f.csv", data), "f.csv")
    records = list(records)
    assert info.header == ["a", "b"]
    assert [(r.line, r.fields["b"]) for r in records] == [(2, "two\nlines"), (5, "xy")]
    assert info.stats.blank_lines == 1 and info.stats.records == 2


def test_csv_records_cp1252_file_is_decoded(tmp_path: Path):
    info, records = read_csv_records(_write(tmp_path / "f.csv", "name,price\nCaf\xe9,\xa312\n".encode("cp1252")), "f.csv")
    (record,) = list(records)
    assert info.stats.encoding == "cp1252"
    assert record.fields == {"name": "Café", "price": "£12"} and record.problem is None


def test_csv_records_mixed_bad_utf8_row_is_flagged(tmp_path: Path):
    data = "name,price\nok,1\n".encode() + b"bad \x81\x8d\x90\x9d,2\n"
    info, records = read_csv_records(_write(tmp_path / "f.csv", data), "f.csv")
    records = list(records)
    assert records[0].problem is None
    assert records[1].problem == "invalid UTF-8 bytes"


def test_csv_records_unbalanced_quote_and_huge_field(tmp_path: Path):
    lines = ["name,price", '"broken quote,1'] + [f"row{i},1" for i in range(MAX_RECORD_LINES + 5)]
    _, records = read_csv_records(_write(tmp_path / "q.csv", "\n".join(lines).encode()), "q.csv")
    records = list(records)
    assert records[-1].problem.startswith("unbalanced quote")
    huge = f"name,price\n{'x' * (MAX_FIELD_CHARS + 1)},1\nok,2\n"
    _, records = read_csv_records(_write(tmp_path / "h.csv", huge.encode()), "h.csv")
    records = list(records)
    assert records[0].problem.startswith("field too large")
    assert len(records[0].raw) <= 1000
    assert records[1].fields["name"] == "ok"


STYLES_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"
ASOS_HEADER = "name,price,color,description,images,category\n"
CATALOG_HEADER = "ProductID,ProductName,ProductBrand,Gender,Price (INR),NumImages,Description,PrimaryColor\n"


def _nasty_lake(root: Path) -> Path:
    raw = root / "raw"
    _write(raw / "myntra" / "styles" / "styles.csv", (STYLES_HEADER +
        "1,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Men Navy Tee\n"
        "2,Women,Footwear,Shoes,Flats,NA,,2012,NA,Boss Women Perfume, Balm and Gel Set\n"
        "3,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Casual,NA\n"
        "\n"
        "1,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Men Navy Tee v2\n"
        "x y,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Casual,Bad id\n"
        "4,Men,Apparel\n").encode())
    _write(raw / "myntra" / "images" / "1.jpg", b"\xff\xd8\xff")
    _write(raw / "asos" / "asos.csv", (ASOS_HEADER +
        'Coat A,Now  40.00,BLACK,"Coats & Jackets by New LookLow-key layeringProduct Code: 1011","[\'https://a/1.jpg\', \'ftp://a/2.jpg\']",Asos\n'
        ',,,,,Asos\n'
        'Padded bomber B,"Was £50.00 Now £25.00",Red,"<p>Jacket by Topshop</p>Product Code: 1012",[],Asos\n'
        'Coat C,free,Red,"Jacket by XProduct Code: 1013",[],Asos\n'
        'Coat A again,45.00,Black,"Coats & Jackets by New LookProduct Code: 1011",[],Asos\n').encode())
    _write(raw / "myntra" / "catalog" / "c.csv", (CATALOG_HEADER +
        '10,DKNY Unisex Black Trolley Bag,DKNY,Unisex,11745,7,"Line one\nline two",  Black\n'
        '11,Roadster Men Jeans,Roadster,Men,abc,3,x,Blue\n').encode())
    return raw


def test_ingest_nasty_lake_accounts_for_every_row(tmp_path: Path):
    result = ingest_catalogs(_nasty_lake(tmp_path))
    products = {r["product_id"]: r for r in result.products.iter_rows(named=True)}
    reasons = {(q["file"], q["line"]): q["reason"] for q in result.quarantine.iter_rows(named=True)}
    assert result.accounting_balanced()
    assert result.records == 13 and result.blank_lines == 1
    # unquoted comma in the last Myntra column: the name is rebuilt, not rejected
    assert products["myntra_styles:2"]["name"] == "Boss Women Perfume, Balm and Gel Set"
    assert products["myntra_styles:2"]["colour"] is None and products["myntra_styles:2"]["usage"] is None
    # duplicate id: the last row wins, the first is quarantined with a pointer to its winner
    assert products["myntra_styles:1"]["name"] == "Turtle Men Navy Tee v2"
    assert reasons[("myntra/styles/styles.csv", 2)].startswith("duplicate id")
    assert products["myntra_styles:1"]["image_urls"][0].endswith("/raw/myntra/images/1.jpg")
    assert reasons[("myntra/styles/styles.csv", 4)] == "missing name"
    assert reasons[("myntra/styles/styles.csv", 7)].startswith("invalid id")
    assert reasons[("myntra/styles/styles.csv", 8)].startswith("wrong field count")
    # ASOS: sale prices, brand/type from the description, only http(s) images, dedup by product code
    assert products["asos:1011"]["name"] == "Coat A again" and products["asos:1011"]["price"] == 45.0
    assert reasons[("asos/asos.csv", 2)].startswith("duplicate id")
    assert products["asos:1012"]["price"] == 25.0 and products["asos:1012"]["brand"] == "Topshop"
    assert products["asos:1012"]["article_type"] == "Jackets" and products["asos:1012"]["category"] == "Apparel"
    assert reasons[("asos/asos.csv", 3)] == "missing name"
    assert reasons[("asos/asos.csv", 5)].startswith("unparseable price")
    # catalog: multiline description, stripped colour, article type inferred from the name
    bag = products["myntra_catalog:10"]
    assert bag["description"] == "Line one\nline two" and bag["colour"] == "Black" and bag["currency"] == "INR"
    assert bag["article_type"] is not None or bag["name"].endswith("Bag")
    assert reasons[("myntra/catalog/c.csv", 4)].startswith("unparseable price")
    assert set(result.quarantine_by_reason()) >= {"duplicate id", "missing name", "unparseable price"}


def test_ingest_keeps_ingested_at_for_unchanged_products(tmp_path: Path):
    raw = _nasty_lake(tmp_path)
    first = ingest_catalogs(raw)
    styles = raw / "myntra" / "styles" / "styles.csv"
    styles.write_text(styles.read_text().replace("Turtle Men Navy Tee v2", "Turtle Men Navy Tee v3"))
    second = ingest_catalogs(raw, previous=first.products)
    before = dict(first.products.select("product_id", "ingested_at").iter_rows())
    after = dict(second.products.select("product_id", "ingested_at").iter_rows())
    assert after["myntra_styles:2"] == before["myntra_styles:2"]
    assert after["myntra_styles:1"] > before["myntra_styles:1"]


def test_missing_required_columns_quarantine_the_file_rows(tmp_path: Path):
    _write(tmp_path / "raw" / "asos" / "asos.csv", b"title,cost\nCoat,12\n")
    result = ingest_catalogs(tmp_path / "raw")
    assert result.products.is_empty()
    assert result.quarantine["reason"].to_list() == ["missing columns: name, price, description, images"]
