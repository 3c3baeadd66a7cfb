"""The incremental item embedding table and the fusion, with a counting encoder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from recsys.embeddings import Encoder, FusionWeights, build_item_embeddings, fuse
from recsys.embeddings.item_table import validate_item_embeddings

DIM = 8


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class CountingEncoder(Encoder):
    """Deterministic vectors from a hash of the text / the mean colour; records what it was asked to encode."""

    name = "counting"
    dimension = DIM

    def __init__(self, version: str = "1"):
        self.version = version
        self.texts: list[str] = []
        self.images: list[Path] = []

    @property
    def text_encoder_id(self) -> str:
        return f"counting-text@{self.version}"

    @property
    def image_encoder_id(self) -> str:
        return f"counting-image@{self.version}"

    def encode_texts(self, texts):
        self.texts += list(texts)
        return _unit(np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:DIM], np.uint8) for t in texts],
                              dtype=np.float32).reshape(-1, DIM) + 1)

    def load_image(self, path):
        self.images.append(Path(path))
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean(axis=(0, 1))

    def embed_image_batch(self, batch):
        return _unit(np.hstack([batch, batch[:, ::-1], batch[:, :2]]) + 1)


@pytest.fixture
def lake(tmp_path) -> Path:
    (tmp_path / "images").mkdir()
    for name, colour in [("red", (230, 20, 20)), ("blue", (20, 20, 230)), ("green", (20, 200, 20))]:
        Image.new("RGB", (24, 32), colour).save(tmp_path / "images" / f"{name}.jpg")
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return tmp_path


def products_frame(description_b: str = "Soft cotton") -> pl.DataFrame:
    return pl.DataFrame({
        "product_id": ["a", "b", "c", "d", "e", "f"],
        "name": ["Red dress", "Blue shirt", "Green cap", "Red dress", None, "Scarf"],
        "article_type": ["Dresses", "Shirts", "Caps", "Dresses", None, None],
        "description": [None, description_b, None, None, None, None],
    })


def primary_frame() -> pl.DataFrame:
    return pl.DataFrame({"product_id": ["a", "b", "c", "e", "f"],
                         "image_path": ["images/red.jpg", "images/blue.jpg", "images/green.jpg", "images/red.jpg",
                                        "images/broken.jpg"],
                         "sha256": ["sha-red", "sha-blue", "sha-green", "sha-red", "sha-broken"]})


def test_every_product_gets_vectors_with_honest_flags(lake):
    encoder = CountingEncoder()
    build = build_item_embeddings(products_frame(), primary_frame(), lake, encoder)
    table = build.table
    assert table["product_id"].to_list() == ["a", "b", "c", "d", "e", "f"]
    flags = dict(zip(table["product_id"], zip(table["has_image"], table["has_text"])))
    assert flags == {"a": (True, True), "b": (True, True), "c": (True, True), "d": (False, True),
                     "e": (True, False), "f": (False, True)}
    assert validate_item_embeddings(table, products_frame()["product_id"]) == []
    assert table.schema["fused_vector"] == pl.Array(pl.Float32, DIM)
    row = table.row(by_predicate=pl.col("product_id") == "f", named=True)
    assert row["image_error"].startswith("UnidentifiedImageError") and row["image_vector"] is None
    # Identical content is encoded once: "a" and "d" share a text, "a" and "e" an image.
    assert build.texts_encoded == 4 and len(encoder.texts) == 4
    assert build.images_encoded == 3 and build.image_failures == {"UnidentifiedImageError": 1}
    assert set(table["encoder"]) == {"counting"} and set(table["encoder_version"]) == {"1"}
    text_only = table.filter(pl.col("product_id") == "d")
    np.testing.assert_allclose(text_only["fused_vector"].to_list(), text_only["text_vector"].to_list(), atol=1e-6)
    image_only = table.filter(pl.col("product_id") == "e")
    np.testing.assert_allclose(image_only["fused_vector"].to_list(), image_only["image_vector"].to_list(), atol=1e-6)


def test_rerun_encodes_nothing_and_changes_nothing(lake):
    first = build_item_embeddings(products_frame(), primary_frame(), lake, CountingEncoder()).table
    encoder = CountingEncoder()
    again = build_item_embeddings(products_frame(), primary_frame(), lake, encoder, previous=first)
    assert again.encoded_nothing and encoder.texts == [] and encoder.images == []  # the broken image is not retried
    assert again.table.equals(first)


def test_changed_description_re_encodes_only_that_product(lake):
    first = build_item_embeddings(products_frame(), primary_frame(), lake, CountingEncoder()).table
    encoder = CountingEncoder()
    build = build_item_embeddings(products_frame("Heavy linen"), primary_frame(), lake, encoder, previous=first)
    assert build.texts_encoded == 1 and len(encoder.texts) == 1 and "Heavy linen" in encoder.texts[0]
    assert build.images_encoded == 0
    changed = {pid for pid, old, new in zip(first["product_id"], first["text_vector"].to_list(),
                                            build.table["text_vector"].to_list()) if old != new}
    assert changed == {"b"}


def test_new_encoder_version_re_encodes_everything(lake):
    first = build_item_embeddings(products_frame(), primary_frame(), lake, CountingEncoder("1")).table
    encoder = CountingEncoder("2")
    build = build_item_embeddings(products_frame(), primary_frame(), lake, encoder, previous=first)
    assert build.texts_encoded == 4 and build.images_encoded == 3 and len(encoder.images) == 4  # broken one retried
    assert set(build.table["encoder_version"]) == {"2"} and build.texts_reused == 0 and build.images_reused == 0


def test_vectors_from_elsewhere_are_reused_only_for_the_same_model(lake):
    texts = CountingEncoder().encode_texts(["Dresses. Red dress."])
    reusable = pl.DataFrame({"text_key": build_item_embeddings(products_frame(), primary_frame(), lake,
                                                               CountingEncoder()).table["text_key"][0],
                             "text_encoder": "counting-text@1",
                             "text_vector": pl.Series([texts[0]], dtype=pl.Array(pl.Float32, DIM))})
    encoder = CountingEncoder()
    build = build_item_embeddings(products_frame(), primary_frame(), lake, encoder, reusable_text_vectors=[reusable])
    assert build.texts_encoded == 3 and "Dresses. Red dress." not in encoder.texts
    other = CountingEncoder("2")
    assert build_item_embeddings(products_frame(), primary_frame(), lake, other,
                                 reusable_text_vectors=[reusable]).texts_encoded == 4


def test_product_with_nothing_still_gets_a_fused_vector(lake):
    products = pl.DataFrame({"product_id": ["x"], "name": [None]}, schema={"product_id": pl.String, "name": pl.String})
    table = build_item_embeddings(products, primary_frame().clear(), lake, CountingEncoder()).table
    assert table["has_image"].to_list() == [False] and table["has_text"].to_list() == [False]
    assert table["fused_vector"].null_count() == 0
    assert validate_item_embeddings(table, products["product_id"]) == []


def test_validation_finds_problems(lake):
    table = build_item_embeddings(products_frame(), primary_frame(), lake, CountingEncoder()).table
    assert validate_item_embeddings(table.head(5), products_frame()["product_id"]) == ["5 rows for 6 products"]
    broken = table.with_columns(has_image=pl.lit(True))
    assert any("has_image" in p for p in validate_item_embeddings(broken, products_frame()["product_id"]))
    scaled = table.with_columns(pl.col("fused_vector").arr.eval(pl.element() * 2))
    assert any("fused_vectors not unit length" in p for p in validate_item_embeddings(scaled, products_frame()["product_id"]))


def test_fuse_weights_and_missing_inputs():
    image = _unit(np.array([[1, 0, 0], [np.nan] * 3, [0, 1, 0], [np.nan] * 3], dtype=np.float32))
    text = _unit(np.array([[0, 1, 0], [0, 0, 1], [np.nan] * 3, [np.nan] * 3], dtype=np.float32))
    fused = fuse(image, text, FusionWeights(image=3, text=1), fallback=np.array([1, 1, 0], np.float32))
    np.testing.assert_allclose(fused[0], _unit(np.array([3, 1, 0], np.float32)), atol=1e-6)
    np.testing.assert_allclose(fused[1], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(fused[2], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(fused[3], _unit(np.array([1, 1, 0], np.float32)), atol=1e-6)
    only_text = fuse(image, text, FusionWeights(image=0, text=1))
    np.testing.assert_allclose(only_text[0], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(only_text[2], [0, 1, 0], atol=1e-6)  # a product without text keeps its image
    assert np.isnan(only_text[3]).all()
    with pytest.raises(ValueError):
        FusionWeights(image=0, text=0)


def test_an_encoder_without_an_image_model_embeds_every_product_from_its_text(lake):
    encoder = CountingEncoder()
    encoder.no_images_reason = "no image tower was trained: 3 usable pairs"
    build = build_item_embeddings(products_frame(), primary_frame(), lake, encoder)
    table = build.table
    assert encoder.images == [] and build.images_encoded == 0 and build.image_failures == {}
    assert not table["has_image"].any() and table["image_error"].null_count() == table.height
    assert validate_item_embeddings(table, products_frame()["product_id"]) == []
    with_text = table.filter(pl.col("has_text"))
    np.testing.assert_allclose(with_text["fused_vector"].to_list(), with_text["text_vector"].to_list(), atol=1e-6)
