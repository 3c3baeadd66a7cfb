"""Parsers on hand-written nasty rows: prices, image lists, text, CSV shapes, each source."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
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
        # null tokens mean a missing price (README), whatever the source
        ("NA", None, None),
        ("null", None, None),
        (" N/A ", None, None),
        ("nan", None, None),
    ],
)
def test_price_parses_real_formats(raw, value, currency):
    parsed = parse_price(raw, default_currency="GBP")
    assert parsed.error is None
    assert parsed.value == value
    assert parsed.currency == currency


@pytest.mark.parametrize("raw", ["free", "-5", "2000000", "inf", "12 or 14", "£"])
def test_price_rejects_garbage_with_a_reason(raw):
    parsed = parse_price(raw, default_currency="GBP")
    assert parsed.value is None
    assert parsed.error and ":" in parsed.error


def test_image_field_python_literal_json_and_broken():
    report = ImageUrlReport()
    assert split_image_field("['https://a/1.jpg', 'https://a/2.jpg']", report) == ["https://a/1.jpg", "https://a/2.jpg"]
    assert split_image_field('["https://a/1.jpg"]', report) == ["https://a/1.jpg"]
    assert split_image_field("['https://a/1.jpg', 'https://a/2", report) == ["https://a/1.jpg"]
    assert split_image_field("[" * 100_000, report) == []
    assert split_image_field("NA", report) == []
    assert split_image_field("", report) == []


@pytest.mark.parametrize("field", [
    "__import__('os').system('rm -rf /')", "[__import__('os').system('ls')]", "(lambda: 1)()", "eval('1')",
    "os.system", "$(rm -rf /).jpg", "; rm -rf /", "[1, 2]", "123", "4.5", "{'url': 'https://a/1.jpg'}",
    '[{"url": "https://a/1.jpg"}]', "[None, True]", "https://a/1.jpg'); __import__('os')",
])
def test_an_image_field_holding_anything_but_url_strings_yields_no_url(tmp_path: Path, field):
    raw = tmp_path / "raw"
    (raw / "asos").mkdir(parents=True)
    report = ImageUrlReport()
    assert parse_image_urls(field, raw, raw / "asos", report) == []
    assert sum(report.dropped.values()) >= 1, "every dropped part is counted"


def test_an_image_list_keeps_its_url_strings_and_counts_the_rest(tmp_path: Path):
    raw = tmp_path / "raw"
    (raw / "asos").mkdir(parents=True)
    report = ImageUrlReport()
    field = "['https://a/1.jpg', 2, {'x': 1}, \"__import__('os')\", 'https://a/2.jpg']"
    assert parse_image_urls(field, raw, raw / "asos", report) == ["https://a/1.jpg", "https://a/2.jpg"]
    assert report.dropped == {"image list holds a non-string item": 2, "not a URL or file name": 1}


@pytest.mark.parametrize("ref", [
    "file:///etc/passwd.jpg", "/etc/passwd.jpg", "file://localhost/etc/passwd.jpg", "file:etc/passwd.jpg",
    "file://otherhost/etc/passwd.jpg", "C:\\etc\\passwd.jpg", "C:/etc/passwd.jpg", "\\\\server\\etc\\passwd.jpg",
    "%2Fetc%2Fpasswd.jpg", "../../etc/passwd.jpg", "LAKE/silver/x.jpg",
])
def test_absolute_paths_outside_raw_are_refused_not_rerooted(tmp_path: Path, ref):
    lake = tmp_path / "lake"
    raw = lake / "raw"
    # where a re-rooted reference would land: a file is there, and still nothing may point at it
    for inside in ("etc/passwd.jpg", "asos/etc/passwd.jpg", "asos/C:/etc/passwd.jpg", "C:/etc/passwd.jpg"):
        _write(raw / inside, b"x")
    _write(lake / "silver" / "x.jpg", b"x")
    report = ImageUrlReport()
    ref = ref.replace("LAKE", lake.as_posix())
    assert parse_image_urls(f"[{ref!r}]", raw, raw / "asos", report) == []
    assert sum(report.dropped.values()) == 1


def test_local_images_are_lake_relative_whatever_the_spelling(tmp_path: Path):
    raw = tmp_path / "lake" / "raw"
    _write(raw / "asos" / "images" / "a b.jpg", b"x")
    report = ImageUrlReport()
    spellings = ["images/a b.jpg", "./images/../images/a b.jpg", (raw / "asos" / "images" / "a b.jpg").as_uri(),
                 str(raw / "asos" / "images" / "a b.jpg"), "file://localhost" + str(raw / "asos" / "images" / "a%20b.jpg")]
    for spelling in spellings:
        assert parse_image_urls(f"[{spelling!r}]", raw, raw / "asos", report) == ["raw/asos/images/a b.jpg"], spelling
    assert not report.dropped


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
    assert urls == ["https://cdn.example/a.jpg", "http://cdn.example/a.jpg", "raw/asos/img.jpg"]
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


@pytest.mark.parametrize(("html", "text"), [
    ("<p>Soft</p><script>alert(1)</script><p>Cotton</p>", "Soft\nCotton"),
    ("<p>Soft</p><SCRIPT type='text/javascript' data-x=\"a>b\">if (a<b) run()</Script ><p>Cotton</p>", "Soft\nCotton"),
    ("<p>Soft</p><script>alert(1)<p>Cotton</p>", "Soft\nCotton"),                      # never closed
    ("Soft<script src=\"x.js\"/> cotton<script>y()</script> shirt", "Soft cotton shirt"),   # self-closed
    ("<style>p {color: red}</style><p>Soft</p><!-- <p>old</p> --><p>Cotton</p>", "Soft\nCotton"),
    ("<div>Soft</div><script>var s = '</div>';</script><script>x<div>Cotton</div>", "Soft\nCotton"),
])
def test_html_text_is_kept_around_script_and_style_blocks(html, text):
    assert clean_description(html) == text


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
    assert records[0].problem is None and records[0].truncated == ("name",)
    assert records[0].fields == {"name": "x" * MAX_FIELD_CHARS, "price": "1"}
    assert len(records[0].raw) <= 1000
    assert records[1].fields["name"] == "ok" and records[1].truncated == ()


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
    assert products["myntra_styles:1"]["image_urls"] == ["raw/myntra/images/1.jpg"]
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


STYLES_ROWS = ("1,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Turtle Men Navy Tee\n"
               "2,Women,Footwear,Shoes,Flats,Black,Summer,2012,Casual,Café Women Flats\n")
ASOS_ROWS = ('Coat A,Now  40.00,Black,"Coats & Jackets by New LookProduct Code: 1011",[],Asos\n'
             'Coat B,£25.00,Red,"Jacket by TopshopProduct Code: 1012",[],Asos\n')


def _utf8_bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.encode()


def _quoted_header(text: str) -> bytes:
    header, rest = text.split("\n", 1)
    return _utf8_bom(",".join(f'"{h}"' for h in header.split(",")) + "\n" + rest)


def _utf16_tabs(text: str) -> bytes:
    """Excel's "Unicode text": UTF-16 LE with a BOM, tab-separated, CRLF."""
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(rows)
    return b"\xff\xfe" + out.getvalue().encode("utf-16-le")


BOM_FLAVOURS = {
    "utf-8 BOM": _utf8_bom,
    "utf-8 BOM, CRLF": lambda text: _utf8_bom(text.replace("\n", "\r\n")),
    "utf-8 BOM before a quoted header": _quoted_header,
    "utf-8 BOM and a stray cp1252 byte": lambda text: _utf8_bom(text).replace("é".encode(), b"\xe9").replace(
        "£".encode(), b"\xa3"),
    "BOM twice": lambda text: b"\xef\xbb\xbf" + _utf8_bom(text),
    "BOM read as cp1252 and saved as UTF-8": lambda text: "ï»¿".encode() + text.encode(),
    "utf-16 LE BOM, tab-separated": _utf16_tabs,
    "utf-16 BE BOM": lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
}


@pytest.mark.parametrize("flavour", BOM_FLAVOURS)
def test_a_catalog_saved_with_a_byte_order_mark_loses_no_row(tmp_path: Path, flavour):
    encode = BOM_FLAVOURS[flavour]
    raw = tmp_path / "raw"
    _write(raw / "myntra" / "styles" / "styles.csv", encode(STYLES_HEADER + STYLES_ROWS))
    _write(raw / "asos" / "asos.csv", encode(ASOS_HEADER + ASOS_ROWS))
    result = ingest_catalogs(raw)
    assert result.quarantine.is_empty(), result.quarantine["reason"].to_list()
    products = {r["product_id"]: r for r in result.products.iter_rows(named=True)}
    assert set(products) == {"myntra_styles:1", "myntra_styles:2", "asos:1011", "asos:1012"}
    assert products["myntra_styles:2"]["name"] == "Café Women Flats"
    assert (products["asos:1011"]["price"], products["asos:1012"]["price"]) == (40.0, 25.0)
    assert products["asos:1012"]["currency"] == "GBP"


def test_missing_price_words_are_missing_prices_in_every_source(tmp_path: Path):
    raw = tmp_path / "raw"
    _write(raw / "asos" / "asos.csv", (ASOS_HEADER +
        'Coat A,NA,Black,"Coats by XProduct Code: 1011",[],Asos\n'
        'Coat B,null,Black,"Coats by XProduct Code: 1012",[],Asos\n').encode())
    _write(raw / "myntra" / "catalog" / "c.csv", (CATALOG_HEADER +
        "10,DKNY Bag,DKNY,Unisex,NA,7,x,Black\n11,Roadster Jeans,Roadster,Men,N/A,3,x,Blue\n").encode())
    result = ingest_catalogs(raw)
    assert result.quarantine.is_empty(), result.quarantine["reason"].to_list()
    assert result.products.height == 4
    assert result.products["price"].null_count() == 4 and result.products["currency"].null_count() == 4


def test_an_over_long_field_is_cut_and_counted_not_the_product_lost(tmp_path: Path):
    raw = tmp_path / "raw"
    long_description = "<p>Soft cotton</p>" + "x" * (MAX_FIELD_CHARS + 10)
    _write(raw / "asos" / "asos.csv", (ASOS_HEADER +
        f'Coat A,40.00,Black,"{long_description}",[],Asos\n'
        'Coat B,41.00,Red,"Jacket by TopshopProduct Code: 1012",[],Asos\n').encode())
    result = ingest_catalogs(raw)
    assert result.quarantine.is_empty() and result.products.height == 2
    coat = result.products.filter(pl.col("name") == "Coat A").row(0, named=True)
    assert coat["description"].startswith("Soft cotton") and coat["price"] == 40.0
    assert result.fields_truncated == {"asos.description": 1}
