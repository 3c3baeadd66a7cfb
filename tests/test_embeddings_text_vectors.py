"""features/text_vectors' core: one vector per distinct product text, reused while text and encoder hold."""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.embeddings.product_text import product_texts
from recsys.embeddings.text_vectors import TextModel, build_text_vectors
from recsys.vectors import vector_matrix


class CountingModel:
    """A deterministic fake text side that remembers what it was asked to encode."""

    def __init__(self, encoder_id: str = "fake@1", dimension: int = 4):
        self.asked: list[str] = []
        self.model = TextModel(encoder_id, dimension, self._encode)

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.asked.extend(texts)
        rows = np.array([[len(t), sum(map(ord, t)) % 97, t.count(" "), 1.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _products(**descriptions: str | None) -> pl.DataFrame:
    return pl.DataFrame({"product_id": list(descriptions), "name": ["Shirt"] * len(descriptions),
                         "description": list(descriptions.values())})


def test_each_distinct_text_is_encoded_once_and_empty_texts_not_at_all():
    products = pl.concat([_products(a="Blue cotton.", b="Blue cotton.", c="Red silk."),
                          pl.DataFrame({"product_id": ["empty"], "name": [None], "description": [None]},
                                       schema={"product_id": pl.String, "name": pl.String, "description": pl.String})])
    fake = CountingModel()
    build = build_text_vectors(products, fake.model)
    assert build.encoded == 2 and build.reused == 0 and len(fake.asked) == 2
    assert build.table.schema["text_vector"] == pl.Array(pl.Float32, 4)
    assert set(build.table["text_key"]) == set(product_texts(products)["text_key"].drop_nulls())
    np.testing.assert_allclose(np.linalg.norm(vector_matrix(build.table["text_vector"]), axis=1), 1.0, atol=1e-6)


def test_a_rebuild_encodes_only_new_texts_and_keeps_only_current_ones():
    first = build_text_vectors(_products(a="Blue cotton.", b="Red silk."), CountingModel().model)
    fake = CountingModel()
    second = build_text_vectors(_products(a="Blue cotton.", b="Green wool."), fake.model, previous=first.table)
    assert second.encoded == 1 and second.reused == 1
    assert len(fake.asked) == 1 and "Green wool." in fake.asked[0]
    kept = product_texts(_products(a="Blue cotton.", b="Green wool."))["text_key"]
    assert sorted(second.table["text_key"]) == sorted(kept)
    same = second.table.join(first.table, on="text_key", suffix="_before")
    assert same.height == 1 and (same["text_vector"] == same["text_vector_before"]).all()


def test_another_encoder_re_encodes_everything():
    products = _products(a="Blue cotton.", b="Red silk.")
    first = build_text_vectors(products, CountingModel("fake@1").model)
    again = build_text_vectors(products, CountingModel("fake@2").model, previous=first.table)
    assert again.encoded == 2 and again.reused == 0 and set(again.table["text_encoder"]) == {"fake@2"}


def test_no_text_at_all_is_an_empty_table_of_the_right_shape():
    build = build_text_vectors(_products(), CountingModel(dimension=3).model)
    assert build.table.height == 0 and build.table.schema["text_vector"] == pl.Array(pl.Float32, 3)
