"""The embedding assets on the tiny lake: the local backend trains, embeds every product, and reruns idle."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.catalog import silver_catalog
from assets import keys
from assets.embeddings import image_tower, item_embeddings
from assets.images import image_manifest
from assets.text_vectors import text_vectors
from recsys.embeddings.clip_random import save_random_clip
from recsys.vectors import vector_matrix
from resources import EncoderResource, ImageFetcherResource, default_resources
from tests.conftest import TINY_STYLES_WITH_IMAGES

# A short training run: the tiny lake has ~120 image pairs; 24 of them are held out.
RUN_CONFIG = {"ops": {"models__image_tower": {"config": {"epochs": 8, "batch_size": 32, "heldout_pairs": 24}}}}


def _resources(lake: Path) -> dict:
    return {**default_resources(str(lake)), "image_fetcher": ImageFetcherResource(offline=True),
            "encoder": EncoderResource(threads=1)}


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def _edit_one_catalog_description(lake: Path) -> str:
    """Change the description of the first Myntra catalog row; returns its product id."""
    path = lake / "raw" / "myntra" / "catalog" / "myntra_products_catalog.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    rows[1][6] = "A completely new description: hand-woven linen."
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return f"myntra_catalog:{rows[1][0]}"


@pytest.mark.slow
def test_local_backend_end_to_end_then_incremental(tiny_lake):
    resources = _resources(tiny_lake)
    result = dg.materialize([silver_catalog, image_manifest, text_vectors, image_tower, item_embeddings],
                            resources=resources, run_config=RUN_CONFIG)
    assert result.success
    checks = _checks(result)
    assert checks["aligned_better_than_random"] and checks["vectors_complete_and_normalized"]

    tower = _metadata(result, keys.IMAGE_TOWER)
    assert tower["reused"] is False and tower["train_pairs"] + tower["heldout_pairs"] == TINY_STYLES_WITH_IMAGES
    assert tower["heldout_pairs"] == 24 and 0 <= tower["text_to_image_recall@10"] <= 1
    assert (tiny_lake / "models" / "image_tower" / "model.safetensors").exists()

    products = pl.read_parquet(tiny_lake / "silver" / "products.parquet")
    table = pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet")
    assert sorted(table["product_id"]) == sorted(products["product_id"])
    assert table.schema["fused_vector"] == pl.Array(pl.Float32, 384)
    assert int(table["has_image"].sum()) == TINY_STYLES_WITH_IMAGES and bool(table["has_text"].all())
    assert set(table["encoder"]) == {"local"} and table["encoder_version"].n_unique() == 1
    fused = vector_matrix(table["fused_vector"])
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-4)

    embeddings = _metadata(result, keys.ITEM_EMBEDDINGS)
    assert embeddings["dagster/row_count"] == products.height and embeddings["dimension"] == 384
    assert embeddings["images_encoded"] == TINY_STYLES_WITH_IMAGES and embeddings["image_items_per_second"] > 0
    # Every text was encoded once, by features/text_vectors, and the item table reuses those vectors.
    texts = _metadata(result, keys.TEXT_VECTORS)
    assert embeddings["texts_encoded"] == 0 and texts["texts_encoded"] == texts["texts"] == table["text_key"].n_unique()
    text_table = pl.read_parquet(tiny_lake / "features" / "text_vectors.parquet")
    joined = table.join(text_table, on="text_key", suffix="_encoded")
    assert joined.height == table.height and (joined["text_vector"] == joined["text_vector_encoded"]).all()

    # Image and text vectors of the same product are nearer than those of random pairs.
    both = table.filter(pl.col("has_image"))
    image, text = vector_matrix(both["image_vector"]), vector_matrix(both["text_vector"])
    shuffled = text[np.random.default_rng(0).permutation(len(text))]
    assert (image * text).sum(axis=1).mean() > (image * shuffled).sum(axis=1).mean()

    # A second run encodes nothing and trains nothing.
    again = dg.materialize([text_vectors, image_tower, item_embeddings], resources=resources, run_config=RUN_CONFIG)
    assert again.success
    assert _metadata(again, keys.TEXT_VECTORS)["texts_encoded"] == 0
    assert _metadata(again, keys.IMAGE_TOWER)["reused"] is True
    rerun = _metadata(again, keys.ITEM_EMBEDDINGS)
    assert rerun["texts_encoded"] == 0 and rerun["images_encoded"] == 0
    assert pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet").equals(table)

    # A changed description re-encodes only that product's text.
    changed = _edit_one_catalog_description(tiny_lake)
    third = dg.materialize([silver_catalog, text_vectors, item_embeddings], resources=resources)
    assert third.success
    assert _metadata(third, keys.TEXT_VECTORS)["texts_encoded"] == 1
    metadata = _metadata(third, keys.ITEM_EMBEDDINGS)
    assert metadata["texts_encoded"] == 0 and metadata["images_encoded"] == 0
    after = pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet")
    moved = after.join(table, on="product_id", suffix="_before").filter(
        pl.col("text_vector") != pl.col("text_vector_before"))
    assert moved["product_id"].to_list() == [changed]


@pytest.mark.slow
def test_clip_backend_through_the_assets(tiny_lake, tmp_path):
    """backend='clip' with a saved checkpoint: no tower is trained, every product gets CLIP vectors."""
    checkpoint = save_random_clip(
        tmp_path / "tiny-clip",
        text_config={"vocab_size": 514, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=24)
    resources = {**_resources(tiny_lake),
                 "encoder": EncoderResource(backend="clip", clip_name_or_path=str(checkpoint), threads=1)}
    result = dg.materialize([silver_catalog, image_manifest, text_vectors, image_tower, item_embeddings],
                            resources=resources)
    assert result.success
    assert _metadata(result, keys.ITEM_EMBEDDINGS)["texts_encoded"] == 0
    # every integrity check passes (the sample rows' own faults only warn: degraded_rows_and_fields)
    assert not [c.check_name for c in result.get_asset_check_evaluations()
                if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    assert "skipped" in _metadata(result, keys.IMAGE_TOWER)
    assert not (tiny_lake / "models" / "image_tower").exists()
    table = pl.read_parquet(tiny_lake / "features" / "item_embeddings.parquet")
    assert table.schema["image_vector"] == pl.Array(pl.Float32, 24)
    assert set(table["encoder"]) == {"clip:tiny-clip"} and int(table["has_image"].sum()) == TINY_STYLES_WITH_IMAGES
    assert set(table.filter(pl.col("has_image"))["image_encoder"]) == set(table["text_encoder"])
