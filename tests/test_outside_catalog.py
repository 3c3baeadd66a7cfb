"""A user's first catalog: an outside retailer's export, with the faults real exports have, builds the
whole graph with default settings, and every rejected row or degraded field is accounted for.

The lake holds nothing of the embedded sample: the ASOS-export fixtures saved as Excel saves them
(a byte-order mark, CRLF), a third export with broken fields, a few local images of which some are
broken, and a day log of real purchases with a repeated row.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.built_lake import ALL_ASSETS, offline_resources
from tests.conftest import ASOS_EXPORT_DIR, SAMPLE_RAW
from tests.image_samples import broken_local_files

HEADER = ["url", "name", "size", "category", "price", "color", "sku", "description", "images"]
HUGE = "Soft cotton. " * 12_000     # 156,000 characters: over the 100,000 a field may hold
FAULTY_ROWS = [
    # a missing-price word, and a description whose script block sits between real text
    ["", "Linen shirt in sand", "S,M", "Shirts", "NA", "Sand", "501",
     "<p>Relaxed fit</p><script>track('x')</script><p>Pure linen</p>", "[]"],
    ["", "Wool scarf in grey", "", "Scarves", "null", "Grey", "502", "Scarves by Pieces", "[]"],
    # a description far too long: cut, not the product lost
    ["", "Cotton socks 5 pack", "", "Socks", "£9.00", "White", "503", HUGE, "[]"],
    # an image list holding code, and a path out of the lake: no URL from either
    ["", "Canvas tote bag", "", "Bags", "£12.00", "Natural", "504", "Bags by ASOS DESIGN",
     "[__import__('os').system('echo pwned')]"],
    ["", "Leather belt in brown", "", "Belts", "£15.00", "Brown", "505", "Belts by ASOS DESIGN",
     "['file:///etc/passwd']"],
    # no name: the one row that is not a product
    ["", "", "", "Belts", "£15.00", "Brown", "506", "", "[]"],
]


def _excel_csv(source: Path, target: Path) -> None:
    """The file as Excel's "CSV UTF-8" writes it: a byte-order mark and CRLF line ends."""
    rows = list(csv.reader(source.open(encoding="utf-8", newline="")))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    target.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode())


def _write_outside_lake(root: Path) -> dict:
    raw = root / "raw"
    (raw / "asos" / "images").mkdir(parents=True)
    for path in sorted(ASOS_EXPORT_DIR.glob("*.csv")):
        _excel_csv(path, raw / "asos" / path.name)
    real = sorted((SAMPLE_RAW / "myntra" / "images").glob("*.jpg"))[:8]
    local = []
    for i, image in enumerate(real):
        shutil.copy(image, raw / "asos" / "images" / f"good{i}.jpg")
        local.append(f"images/good{i}.jpg")
    for name, (data, _) in list(broken_local_files(real[0].read_bytes()).items())[:2]:
        (raw / "asos" / "images" / f"{name}.jpg").write_bytes(data)
        local.append(f"images/{name}.jpg")
    rows = [list(r) for r in FAULTY_ROWS]
    for i, ref in enumerate(local):   # products with a local image each: some good, some broken
        rows.append(["", f"Printed tee number {i}", "", "T-Shirts", "£10.00", "Black", f"6{i:02d}",
                     "T-Shirts by ASOS DESIGN", str([ref])])
    with open(raw / "asos" / "faulty_export.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    # a day log: shoppers' purchases by the retailer's own ids, one basket bought twice (two units)
    skus = [r[6] for r in rows[:5]] + [f"6{i:02d}" for i in range(len(local))]
    lines = ["user_id,product_id,event,ts"]
    for user in range(30):
        for day, sku in enumerate(skus[user % 5: user % 5 + 6]):
            lines.append(f"shopper{user},{sku},purchase,2026-11-{day + 1:02d}")
    lines.append("shopper0,501,purchase,2026-11-01")            # the same row again: a second unit
    (raw / "events").mkdir()
    (raw / "events" / "orders.csv").write_text("\n".join(lines) + "\n")
    return {"local_images": len(local), "broken_images": 2, "faulty_rows": len(rows)}


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    lake = tmp_path_factory.mktemp("outside") / "lake"
    facts = _write_outside_lake(lake)
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(lake), raise_on_error=False)
    return lake, facts, result


def _failed_checks(result, severity) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed and e.severity == severity}


@pytest.mark.slow
def test_an_outside_catalog_builds_every_table_with_default_settings(outside):
    lake, _, result = outside
    assert result.success
    assert not _failed_checks(result, dg.AssetCheckSeverity.ERROR)
    # what was degraded says so
    assert {"vocabulary_coverage", "degraded_rows_and_fields", "local_image_failures", "tower_trained"} <= _failed_checks(
        result, dg.AssetCheckSeverity.WARN)
    products = pl.read_parquet(lake / "gold" / "products.parquet")
    similar = pl.read_parquet(lake / "gold" / "similar_items.parquet")
    assert similar["product_id"].n_unique() == products.height
    users = pl.read_parquet(lake / "gold" / "user_recommendations.parquet")
    assert users["user_id"].n_unique() == 30


@pytest.mark.slow
def test_every_row_of_the_outside_files_is_a_product_or_quarantined_with_a_reason(outside):
    lake, facts, _ = outside
    products = pl.read_parquet(lake / "silver" / "products.parquet")
    quarantine = pl.read_parquet(lake / "silver" / "quarantine.parquet")
    exported = sum(len(list(csv.DictReader(p.open(encoding="utf-8")))) for p in ASOS_EXPORT_DIR.glob("*.csv"))
    assert products.height + quarantine.height == exported + facts["faulty_rows"]
    assert quarantine["reason"].to_list() == ["missing name"]        # the BOM'd files lost nothing
    by_id = {r["source_id"]: r for r in products.iter_rows(named=True)}
    assert by_id["501"]["price"] is None and by_id["502"]["price"] is None
    assert by_id["501"]["description"] == "Relaxed fit\nPure linen"
    assert 0 < len(by_id["503"]["description"]) <= 5_000
    assert by_id["504"]["image_urls"] == [] and by_id["505"]["image_urls"] == []
    assert by_id["201872233"]["source_category"] == "Bra" and by_id["201872233"]["article_type"] == "Bra"


@pytest.mark.slow
def test_broken_images_leave_their_products_text_only(outside):
    lake, facts, _ = outside
    manifest = pl.read_parquet(lake / "images" / "manifest.parquet")
    local = manifest.filter(pl.col("url").str.starts_with("raw/"))
    assert local.height == facts["local_images"]
    assert local.filter(pl.col("status") != "ok").height == facts["broken_images"]
    products = pl.read_parquet(lake / "gold" / "products.parquet")
    broken = local.filter(pl.col("status") != "ok")["product_id"]
    assert not products.filter(pl.col("product_id").is_in(broken.implode()))["has_image"].any()
    assert products.filter(pl.col("product_id").is_in(broken.implode()))["has_text"].all()


@pytest.mark.slow
def test_a_purchase_row_repeated_in_a_day_log_is_a_second_unit(outside):
    lake, _, _ = outside
    interactions = pl.read_parquet(lake / "silver" / "interactions.parquet")
    assert set(interactions["origin"]) == {"real"}
    twice = interactions.filter(pl.col("user_id") == "shopper0", pl.col("product_id") == "asos:501")
    assert twice["value"].to_list() == [2.0]
