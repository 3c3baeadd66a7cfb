"""Shared fixtures: a tiny lake cut from the embedded sample, in a temp dir."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

# implicit (ALS) and numpy's BLAS fight over threads; set before anything imports them.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RAW = REPO / "data_lake" / "raw"
# ASOS catalogs in the retailer's export format (url,name,size,category,price,color,sku,description,images),
# one with department and gender columns: retailer categories, H&M departments, known and unknown values.
ASOS_EXPORT_DIR = Path(__file__).resolve().parent / "data" / "asos_export"

TINY_ASOS_ROWS = 40
TINY_STYLES_WITH_IMAGES = 120
TINY_STYLES_WITHOUT_IMAGES = 20
TINY_CATALOG_ROWS = 40


def _copy_head(src: Path, dst: Path, rows: int) -> None:
    """Copy the header and the first ``rows`` CSV records (quoted multi-line fields intact)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, newline="", encoding="utf-8") as fin, open(dst, "w", newline="", encoding="utf-8") as fout:
        reader, writer = csv.reader(fin), csv.writer(fout, lineterminator="\n")
        for i, row in enumerate(reader):
            if i > rows:
                break
            writer.writerow(row)


def build_tiny_lake(root: Path) -> Path:
    """A small lake in the real raw formats: ASOS, Myntra styles (most with images), catalog."""
    raw = root / "raw"
    _copy_head(SAMPLE_RAW / "asos" / "asos.csv", raw / "asos" / "asos.csv", TINY_ASOS_ROWS)
    _copy_head(SAMPLE_RAW / "myntra" / "catalog" / "myntra_products_catalog.csv",
               raw / "myntra" / "catalog" / "myntra_products_catalog.csv", TINY_CATALOG_ROWS)
    images = SAMPLE_RAW / "myntra" / "images"
    (raw / "myntra" / "images").mkdir(parents=True)
    with_images, without_images = [], []
    with open(SAMPLE_RAW / "myntra" / "styles" / "styles.csv", encoding="utf-8") as fh:
        header = fh.readline()
        for line in fh:
            style_id = line.split(",", 1)[0]
            has_image = (images / f"{style_id}.jpg").exists()
            bucket = with_images if has_image else without_images
            limit = TINY_STYLES_WITH_IMAGES if has_image else TINY_STYLES_WITHOUT_IMAGES
            if len(bucket) < limit:
                bucket.append(line)
            if len(with_images) >= TINY_STYLES_WITH_IMAGES and len(without_images) >= TINY_STYLES_WITHOUT_IMAGES:
                break
    (raw / "myntra" / "styles").mkdir(parents=True)
    (raw / "myntra" / "styles" / "styles.csv").write_text(header + "".join(with_images + without_images))
    for line in with_images:
        style_id = line.split(",", 1)[0]
        shutil.copy(images / f"{style_id}.jpg", raw / "myntra" / "images" / f"{style_id}.jpg")
    return root


def add_asos_export(raw: Path) -> list[str]:
    """Copy the ASOS export fixtures into ``raw/asos/``; returns the files' lake-relative names."""
    (raw / "asos").mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(ASOS_EXPORT_DIR.glob("*.csv")):
        shutil.copy(path, raw / "asos" / path.name)
        names.append(f"asos/{path.name}")
    return names


@pytest.fixture
def tiny_lake(tmp_path: Path) -> Path:
    """Root of a fresh tiny lake (raw/ only); point resources at it with default_resources(str(root))."""
    return build_tiny_lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def published_lake(tmp_path_factory) -> Path:
    """A tiny lake with the whole graph built once per session (the serving tests read it, never write it)."""
    from tests.built_lake import build_published_lake

    return build_published_lake(tmp_path_factory.mktemp("published") / "lake")
