"""The synthetic lake generator: real raw formats, exact quarantine oracle, determinism, bounded memory."""

from __future__ import annotations

import gc
import hashlib
import json
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from recsys.catalog import ingest_catalogs
from recsys.interactions.events import read_events
from recsys.synthetic import SUMMARY_FILE, SyntheticLakeSettings, generate_lake
from recsys.synthetic.__main__ import main as cli_main
from recsys.synthetic.images import draw_product
from recsys.synthetic.products import COLOUR_NAMES
from recsys.synthetic.vocabulary import ARTICLE_TYPES, PATTERNS

SMALL = dict(products=1_500, users=200, seed=7, quirk_rate=0.03, chunk_size=400, shard_size=800,
             user_chunk_size=80, image_size=(48, 64), workers=0)


def _tree_digest(raw: Path) -> dict[str, str]:
    return {p.relative_to(raw).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(raw.rglob("*")) if p.is_file() and p.name != SUMMARY_FILE}


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic")
    generate_lake(root, SyntheticLakeSettings(**SMALL))
    return root / "raw", json.loads((root / "raw" / SUMMARY_FILE).read_text())


def test_catalogs_ingest_with_exactly_the_planted_quarantine(small_lake):
    raw, summary = small_lake
    result = ingest_catalogs(raw)
    assert result.accounting_balanced()
    assert result.products.height == SMALL["products"]
    assert result.products_by_source() == summary["products"]
    got = (result.quarantine.group_by("source", reason=pl.col("reason").str.split(":").list.first()).len()
           .sort("source", "reason"))
    expected = [(s, r, n) for s, reasons in sorted(summary["expected_quarantine"].items())
                for r, n in sorted(reasons.items())]
    assert [tuple(row) for row in got.iter_rows()] == expected
    assert {"duplicate id", "unparseable price", "missing name", "price out of range"} <= set(got["reason"])
    assert result.blank_lines == sum(summary["blank_lines"].values()) > 0
    assert {f.file for f in result.files} >= {"asos/asos-00000.csv", "asos/asos-00001.csv",
                                              "myntra/styles/styles-00001.csv", "myntra/catalog/catalog-00000.csv"}


def test_quirks_parse_the_way_the_real_ones_do(small_lake):
    raw, summary = small_lake
    products = ingest_catalogs(raw).products
    quirks = summary["quirks"]
    by_source = {s: products.filter(pl.col("source") == s) for s in summary["products"]}
    # "NA" strings become nulls, not values
    assert by_source["myntra_styles"]["usage"].null_count() == quirks["myntra_styles|na_value"] > 0
    assert by_source["asos"]["colour"].null_count() == quirks["asos|na_value"] > 0
    assert "NA" not in set(products["colour"].drop_nulls()) | set(products["usage"].drop_nulls())
    # the unquoted comma in a styles name is part of the name, not a broken row
    assert by_source["myntra_styles"].filter(pl.col("name").str.contains(", ")).height == quirks["myntra_styles|odd_format"]
    # "Now  40.00" prices parse; multi-line catalog descriptions survive as text
    assert by_source["asos"]["price"].null_count() == 0
    assert by_source["myntra_catalog"].filter(pl.col("description").str.contains("\n")).height == \
        quirks["myntra_catalog|odd_format"]
    # images: every ASOS product and every style but the planted missing ones, all decodable JPEGs
    with_image = products.filter(pl.col("image_urls").list.len() > 0)
    assert with_image.height == summary["images"] == \
        by_source["asos"].height + by_source["myntra_styles"].height - quirks["myntra_styles|no_image"]
    first = raw.parent / with_image["image_urls"][0][0]   # lake-relative: raw/...
    assert Image.open(first).size == SMALL["image_size"]
    # brands, descriptions and article types are there for the text encoders
    assert by_source["asos"]["brand"].null_count() == 0
    assert by_source["myntra_catalog"]["description"].null_count() == 0
    assert products["article_type"].null_count() < 0.05 * products.height


@pytest.mark.parametrize("events_format", ["parquet", "csv"])
def test_events_read_with_exactly_the_planted_quarantine(tmp_path, events_format):
    config = SyntheticLakeSettings(**{**SMALL, "products": 400, "users": 150, "images": False,
                                    "events_format": events_format})
    summary = generate_lake(tmp_path, config).to_json()
    raw = tmp_path / "raw"
    assert sorted(p.suffix for p in (raw / "events").iterdir()) == [f".{events_format}"] * 2
    products = ingest_catalogs(raw).products
    events = read_events(raw / "events", products)
    assert events.accounting_balanced()
    assert events.records == summary["events"]["rows"]
    assert events.quarantine_by_reason() == {k: v for k, v in summary["events"]["expected_quarantine"].items() if v}
    interactions = events.interactions
    assert interactions["user_id"].n_unique() == 150
    assert dict(interactions["event"].value_counts().iter_rows()) == summary["events"]["kinds"]
    ratings = interactions.filter(pl.col("event") == "rating")["value"]
    assert ratings.is_between(1, 5).all() and ratings.len() > 0


def test_events_have_popularity_skew_and_taste(tmp_path):
    generate_lake(tmp_path, SyntheticLakeSettings(products=2_000, users=600, seed=3, images=False, workers=0,
                                                quirk_rate=0.0))
    raw = tmp_path / "raw"
    products = ingest_catalogs(raw).products
    events = read_events(raw / "events", products).interactions
    per_item = events["product_id"].value_counts()["count"].sort(descending=True)
    top_share = per_item.head(len(per_item) // 10).sum() / per_item.sum()
    assert top_share > 0.35                       # the top 10% of items draw well over 10% of events
    # taste: a user's events concentrate on fewer article types than random draws would
    typed = events.join(products.select("product_id", "article_type"), on="product_id")
    per_user = typed.group_by("user_id").agg(pl.col("article_type").n_unique().alias("types"), pl.len().alias("n"))
    shuffled = typed.with_columns(pl.col("article_type").shuffle(seed=0))
    per_user_random = shuffled.group_by("user_id").agg(pl.col("article_type").n_unique().alias("types"))
    assert per_user["types"].mean() < 0.85 * per_user_random["types"].mean()


def test_deterministic_whatever_the_worker_count(tmp_path):
    config = SyntheticLakeSettings(**{**SMALL, "products": 600, "users": 60})
    generate_lake(tmp_path / "a", config)
    generate_lake(tmp_path / "b", SyntheticLakeSettings(**{**SMALL, "products": 600, "users": 60, "workers": 2}))
    generate_lake(tmp_path / "c", SyntheticLakeSettings(**{**SMALL, "products": 600, "users": 60, "seed": 8}))
    a, b, c = (_tree_digest(tmp_path / name / "raw") for name in "abc")
    assert a == b
    assert len(a) > 300
    assert a != c


def test_images_carry_article_and_colour_signal():
    size = (48, 64)
    tee, watch = (next(i for i, a in enumerate(ARTICLE_TYPES) if a.name == n) for n in ("Tshirts", "Watches"))
    red, blue = COLOUR_NAMES.index("Red"), COLOUR_NAMES.index("Blue")
    solid = PATTERNS.index("Solid")

    def picture(article, colour, seed):
        return np.asarray(draw_product(article, colour, colour, solid, size, np.random.default_rng(seed)), dtype=float)

    red_tee, blue_tee = picture(tee, red, 0), picture(tee, blue, 0)
    painted = red_tee.sum(axis=2) < 600                       # off the light background
    assert red_tee[painted, 0].mean() > red_tee[painted, 2].mean() + 60
    assert blue_tee[painted, 2].mean() > blue_tee[painted, 0].mean() + 60
    # silhouettes differ by article much more than between two products of one article
    mask = lambda img: img.sum(axis=2) < 600  # noqa: E731
    iou = lambda a, b: (a & b).sum() / (a | b).sum()  # noqa: E731
    assert iou(mask(picture(tee, red, 1)), mask(picture(tee, red, 2))) > 0.6
    assert iou(mask(picture(tee, red, 1)), mask(picture(watch, red, 1))) < 0.4


def _peak_traced_bytes(root: Path, products: int, users: int) -> int:
    config = SyntheticLakeSettings(products=products, users=users, chunk_size=500, user_chunk_size=200,
                                 images=False, workers=0)
    gc.collect()
    tracemalloc.start()
    try:
        generate_lake(root, config)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_as_the_lake_grows(tmp_path):
    _peak_traced_bytes(tmp_path / "warm", 500, 100)           # imports and caches out of the way
    small = _peak_traced_bytes(tmp_path / "small", 2_000, 400)
    large = _peak_traced_bytes(tmp_path / "large", 16_000, 3_200)
    # 8x the products and users: rows are streamed, so growth is only the per-product sampling
    # tables of the event generator (< 400 bytes each), nothing per row, image or user.
    assert (large - small) / 14_000 < 400, (small, large)
    assert large < 4 * small


def test_cli_writes_a_lake_and_refuses_to_overwrite(tmp_path, capsys):
    args = ["--products", "300", "--users", "20", "--out", str(tmp_path), "--seed", "1", "--workers", "0",
            "--image-size", "32x40"]
    cli_main(args)
    printed = json.loads(capsys.readouterr().out)
    assert printed["products"] == json.loads((tmp_path / "raw" / SUMMARY_FILE).read_text())["products"]
    assert sum(printed["products"].values()) == 300
    assert printed["rates"]["images_per_s"] > 0 and printed["rates"]["catalog_rows_per_s"] > 0
    with pytest.raises(FileExistsError):
        cli_main(args)
    cli_main([*args, "--overwrite", "--no-images"])
    assert not any((tmp_path / "raw" / "myntra" / "images").iterdir())
    assert not (tmp_path / ".raw.partial").exists()
