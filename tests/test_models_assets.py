"""The model assets materialized in-process on the tiny lake, end to end from silver/products.

features/item_embeddings belongs to the embeddings stage; the test writes a table of that
contract from seeded attribute vectors (tests/interaction_fixtures.attribute_embeddings).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.models.als import ALSRecommender
from recsys.models.two_tower import TwoTowerRecommender
from recsys.storage import read_parquet
from tests.helpers import build_models_lake, check_results, metadata_of


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_models_lake(tmp_path_factory.mktemp("models") / "lake")


@pytest.mark.slow
def test_models_build_from_the_split(built):
    lake, products, result = built
    assert result.success
    checks = check_results(result)
    assert checks.pop("beats_popularity") in (True, False)      # a warning on a tiny lake, reported either way
    assert all(checks.values()), checks
    als = ALSRecommender.from_pretrained(lake / "models" / "als")
    assert als.finite and als.params.factors == 8
    meta = metadata_of(result, ["models", "als"])
    assert "data:image/png;base64" in meta["validation_curve"].value
    tower = TwoTowerRecommender.from_pretrained(lake / "models" / "two_tower")
    assert len(tower.item_ids) == products.height and tower.params.dim == 32
    tower_meta = metadata_of(result, ["models", "two_tower"])
    assert "data:image/png;base64" in tower_meta["training_curve"].value
    assert set(tower_meta["validation"].value) == {"recall@20", "ndcg@20", "hit_rate@20"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_models_lake(tmp_path_factory.mktemp("models") / "lake")


@pytest.mark.slow
def test_every_product_gets_a_tower_vector_and_new_users_are_served(built):
    lake, products, result = built
    vectors = read_parquet(lake / "features" / "item_tower_vectors.parquet")
    assert vectors.height == products.height and vectors["product_id"].is_unique().all()
    matrix = np.asarray(vectors["vector"].to_numpy(), dtype=np.float32)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    split = read_parquet(lake / "features" / "interaction_split.parquet")
    never_seen = vectors.filter(~pl.col("product_id").is_in(split["product_id"].implode()))
    assert never_seen.height > 0 and not never_seen["warm"].any()       # cold products still have vectors
    tower = TwoTowerRecommender.from_pretrained(lake / "models" / "two_tower")
    top = tower.recommend_for_history(products["product_id"].head(2).to_list(), k=5)
    assert top.height == 5
