"""`recsys search` and `recsys similar --image`: the saved encoder + the index, on products it embedded."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from recsys import warehouse
from recsys.cli import main
from recsys.embeddings import ImageTower, LocalEncoder, TowerParams
from recsys.embeddings.image_tower import write_skipped
from recsys.gold import gold_warehouse_tables
from recsys.index import ItemIndex, VectorSpec
from tests.gold_world import write_gold_tables


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Gold tables of the synthetic catalog, an image tower saved where the pipeline saves it, and an
    index over that encoder's vectors: product texts, except product 0 which is a photo."""
    root = tmp_path_factory.mktemp("cli_queries") / "lake"
    tables = write_gold_tables(root / "gold")
    warehouse.publish(root / "warehouse.duckdb", gold_warehouse_tables(root / "gold"))
    torch.manual_seed(0)
    ImageTower(TowerParams(widths=(8, 16, 16, 32), head_hidden=64)).save_pretrained(root / "models" / "image_tower")
    encoder = LocalEncoder(root / "models" / "image_tower")
    products = tables["products"]
    texts = (products["name"] + " " + products["colour"].fill_null("")).to_list()
    vectors = encoder.encode_texts(texts)
    photo = root / "photo.jpg"
    pixels = np.random.default_rng(0).integers(0, 255, size=(96, 72, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    vectors[0] = encoder.encode_images([photo]).vectors[0]
    spec = VectorSpec(encoder.name, encoder.version, "fused_vector", encoder.dimension)
    ItemIndex.build(products["product_id"].to_list(), vectors, spec).save(root / "models" / "faiss_index")
    return root, products, photo


def test_free_text_search_finds_the_matching_products(lake, capsys):
    root, products, _ = lake
    assert main(["search", "red", "dresses", "--lake", str(root), "-k", "5", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["query"] == {"search": "red dresses"}
    top = products.filter(pl.col("product_id").is_in([r["product_id"] for r in answer["results"][:3]]))
    assert set(top["article_type"]) == {"Dresses"}
    assert all(r["reason"] == "matches your search" and r["name"] for r in answer["results"])


def test_a_photo_finds_the_product_with_that_photo(lake, capsys):
    root, products, photo = lake
    assert main(["similar", "--image", str(photo), "--lake", str(root), "-k", "3"]) == 0
    out = capsys.readouterr().out
    first_row = next(line for line in out.splitlines() if line.startswith("│ 1 "))
    assert products["product_id"][0] in first_row and "looks similar" in first_row


def test_unreadable_photo_and_other_encoder_version_are_refused(lake, tmp_path, capsys):
    root, _, _ = lake
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    assert main(["similar", "--image", str(broken), "--lake", str(root)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["similar", "--image", str(tmp_path / "missing.jpg"), "--lake", str(root)]) == 2
    # Retrain the tower (new version) without rebuilding the index: queries are refused, not wrong.
    torch.manual_seed(1)
    other = tmp_path / "lake"
    (other / "models").mkdir(parents=True)
    ImageTower(TowerParams(widths=(8, 16, 16, 32), head_hidden=64)).save_pretrained(other / "models" / "image_tower")
    (other / "models" / "faiss_index").symlink_to(root / "models" / "faiss_index")
    (other / "warehouse.duckdb").symlink_to(root / "warehouse.duckdb")
    assert main(["search", "shirt", "--lake", str(other)]) == 2
    assert "rebuild" in capsys.readouterr().err


def test_a_text_only_build_answers_text_searches_and_refuses_photos(lake, tmp_path, capsys):
    root, products, photo = lake
    text_only = tmp_path / "lake"
    write_skipped(text_only / "models" / "image_tower", "36 usable (image, text) pairs", {"pairs": 36})
    encoder = LocalEncoder(text_only / "models" / "image_tower")
    vectors = encoder.encode_texts((products["name"] + " " + products["colour"].fill_null("")).to_list())
    spec = VectorSpec(encoder.name, encoder.version, "fused_vector", encoder.dimension)
    ItemIndex.build(products["product_id"].to_list(), vectors, spec).save(text_only / "models" / "faiss_index")
    (text_only / "warehouse.duckdb").symlink_to(root / "warehouse.duckdb")
    assert main(["search", "red", "dresses", "--lake", str(text_only), "-k", "3"]) == 0
    capsys.readouterr()
    assert main(["similar", "--image", str(photo), "--lake", str(text_only)]) == 2
    assert "cannot search by image: no image tower was trained: 36 usable" in capsys.readouterr().err
