"""Product text template and the MiniLM text encoder (real all-MiniLM-L6-v2 weights)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.embeddings.minilm import DIMENSION, MiniLMTextEncoder
from recsys.embeddings.product_text import product_text, product_texts, text_key


def test_template_orders_fields_and_leaves_out_missing_ones():
    row = {"name": "Nike Men Blue Running Shoes", "colour": "Blue", "article_type": "Sports Shoes",
           "gender": "Men", "brand": "Nike", "category": "Footwear", "subcategory": "Shoes",
           "usage": "Sports", "season": "Summer", "description": "Mesh upper.\nCushioned sole"}
    assert product_text(row) == ("Sports Shoes. Nike Men Blue Running Shoes. Blue Sports Shoes for Men by Nike. "
                                 "Sports, Summer. Mesh upper. Cushioned sole.")
    # The kind falls back to the subcategory; alone it is not repeated as an attribute sentence.
    assert product_text({"name": "Plain tee", "subcategory": "Topwear", "description": None}) == "Topwear. Plain tee."
    assert product_text({"name": "Scarf", "brand": "Acme"}) == "Scarf. By Acme."
    assert product_text({}) == ""
    assert product_text({"name": None, "colour": "  "}) == ""


def test_description_is_capped_and_whitespace_collapsed():
    text = product_text({"name": "x", "description": "word  \n\t " * 1000})
    assert "  " not in text and "\n" not in text
    assert len(text) < 700


def test_text_key_follows_the_text_only():
    products = pl.DataFrame({"product_id": ["a", "b", "c"], "name": ["Red dress", "Red dress", "Blue dress"],
                             "price": [1.0, 2.0, 3.0], "description": [None, None, None]})
    keys = product_texts(products)["text_key"].to_list()
    assert keys[0] == keys[1] != keys[2]  # price is not part of the text
    assert text_key("") is None


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    import torch

    torch.set_num_threads(1)
    return MiniLMTextEncoder(batch_size=4, precision="fp32")


def test_minilm_vectors_are_unit_384d_and_independent_of_batching(minilm):
    texts = ["Tshirts. Nike Men Black Tshirt.", "Handbags. Red leather handbag for Women.", "x",
             "Sports Shoes. " + "very long description " * 40, "Watches. Titan analog watch."]
    vectors = minilm.encode(texts)
    assert vectors.shape == (5, DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Sorting by length inside encode() must not mix up rows: each text alone gives the same vector.
    alone = np.vstack([minilm.encode([t]) for t in texts])
    np.testing.assert_allclose(vectors, alone, atol=1e-4)
    assert minilm.encode([]).shape == (0, DIMENSION)


def test_minilm_equals_sentence_transformers_and_bf16_stays_close(minilm):
    from sentence_transformers import SentenceTransformer

    texts = ["Kurtas. Biba Women Green Printed Kurta. Green Kurtas for Women. Ethnic, Fall.", "Socks", "a photo of a Tshirts"]
    library = SentenceTransformer(str(minilm.model_dir), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.encode(texts), library, atol=1e-5)
    fast = MiniLMTextEncoder(batch_size=4, precision="auto").encode(texts)  # bf16 autocast where the CPU has it
    assert ((fast * library).sum(axis=1) > 0.999).all()


def test_minilm_puts_related_texts_nearer(minilm):
    a, b, c = minilm.encode(["Black running shoes for men", "Men's black sports sneakers", "Gold necklace for women"])
    assert a @ b > a @ c + 0.2


def test_minilm_version_names_the_weights(minilm):
    assert len(minilm.version) == 12
    assert MiniLMTextEncoder(batch_size=2).version == minilm.version
