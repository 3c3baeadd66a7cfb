"""Validation-only tuning: ground-truth slices, fusion re-mixing, the tuned weights file, and that
the index and the tables use what was tuned."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import dagster as dg
import numpy as np
import polars as pl
import pytest

from recsys.evaluation import ground_truth, rankings, tuning
from recsys.evaluation.inputs import EvaluationInputs, exact_search, load_inputs, sample_users
from recsys.evaluation.validation_tuning import tune_on_validation
from recsys.gold import SimilarItemsSettings, build_similar_items, model_inputs
from recsys.gold.similar_items import similar_candidates
from recsys.index import IdMap
from recsys.recommend import build_history
from tests.interaction_fixtures import planted, synthetic_catalog

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _split(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(user, product, split) rows, one event each, in time order."""
    return pl.DataFrame([(u, p, "click", 1.0, T0 + timedelta(minutes=i), s) for i, (u, p, s) in enumerate(rows)],
                        schema={"user_id": pl.String, "product_id": pl.String, "event": pl.String, "value": pl.Float64,
                                "ts": pl.Datetime("us", "UTC"), "split": pl.String}, orient="row")


SPLIT = _split(
    [("long", f"p{i}", "train") for i in range(8)] + [("long", "p8", "validation"), ("long", "new_item", "validation")]
    + [("long", "p9", "test"), ("long", "p10", "test")]
    + [("newcomer", "p8", "train"), ("newcomer", "p1", "train"), ("newcomer", "p2", "test"), ("newcomer", "p11", "test")]
)


def test_validation_truth_has_only_the_slices_defined_there():
    truth = ground_truth.user_ground_truth(SPLIT, "validation")
    assert set(truth["slice"]) == {"all", "cold_start_items"}
    assert truth.filter(pl.col("slice") == "cold_start_items")["product_id"].to_list() == ["new_item"]
    assert set(truth.filter(pl.col("slice") == "all")["product_id"]) == {"p8", "new_item"}


def test_test_truth_has_the_cold_start_user_slice():
    truth = ground_truth.user_ground_truth(SPLIT, "test")
    assert set(truth["slice"]) == {"all", "cold_start_users", "cold_start_items"}
    assert set(truth.filter(pl.col("slice") == "cold_start_users")["query_id"]) == {"newcomer"}
    # p9, p10 and p11 were never trained on; new_item is a validation item, not a test one
    assert set(truth.filter(pl.col("slice") == "cold_start_items")["product_id"]) == {"p9", "p10", "p11"}


def test_validation_truth_never_reads_test_rows():
    scrambled = SPLIT.with_columns(product_id=pl.when(pl.col("split") == "test").then(pl.lit("zzz"))
                                   .otherwise(pl.col("product_id")))
    assert ground_truth.user_ground_truth(scrambled, "validation").equals(ground_truth.user_ground_truth(SPLIT, "validation"))
    with pytest.raises(ValueError):
        ground_truth.user_ground_truth(SPLIT, "train")


def test_attribute_queries_of_validation_and_test_come_from_disjoint_halves():
    products = synthetic_catalog(n=400).with_columns(has_image=pl.lit(True))
    validation = ground_truth.attribute_ground_truth(products, "validation", max_queries=150)
    test = ground_truth.attribute_ground_truth(products, "test", max_queries=150)
    assert validation["query_id"].n_unique() > 50 and test["query_id"].n_unique() > 50
    assert not set(validation["query_id"]) & set(test["query_id"])
    halves = dict(zip(products["product_id"], ground_truth.attribute_half(products["product_id"].to_list())))
    assert {halves[q] for q in test["query_id"]} == {"test"}
    # relevant items may come from either half: the relevance is the catalog's, only the queries are split
    assert {halves[p] for p in test["product_id"]} == {"validation", "test"}


def _embeddings(image: list, text: list, stored: list) -> pl.DataFrame:
    vec = pl.Array(pl.Float32, 2)
    return pl.DataFrame({"product_id": [f"p{i}" for i in range(len(image))],
                         "image_vector": pl.Series(image, dtype=vec), "text_vector": pl.Series(text, dtype=vec),
                         "fused_vector": pl.Series(stored, dtype=vec)})


def test_with_fusion_remixes_both_modality_products_only():
    # p0 has both, p1 image only, p2 text only, p3 neither (its stored vector is the encoder's fallback)
    frame = _embeddings([[1, 0], [0, 1], None, None], [[0, 1], None, [1, 0], None],
                        [[0.6, 0.8], [0, 1], [1, 0], [0.8, 0.6]])
    for weight, expected in ((1.0, [1, 0]), (0.0, [0, 1]), (0.25, np.array([0.25, 0.75]) / np.hypot(0.25, 0.75))):
        fused = model_inputs.with_fusion(frame, weight)["fused_vector"].to_list()
        np.testing.assert_allclose(fused[0], expected, atol=1e-6)
        np.testing.assert_allclose(fused[1:], [[0, 1], [1, 0], [0.8, 0.6]], atol=1e-6)
    assert model_inputs.with_fusion(frame, None) is frame
    ids = IdMap(["p3", "p0"])
    aligned = model_inputs.content_vectors(ids, frame, "fused_vector", 1.0)
    np.testing.assert_allclose(aligned.vectors, [[0.8, 0.6], [1, 0]], atol=1e-6)
    np.testing.assert_allclose(model_inputs.content_vectors(ids, frame, "image_vector", 0.0).vectors, [[0, 0], [1, 0]])


def test_tune_fusion_takes_the_best_grid_weight_and_keeps_the_default_score():
    calls = []

    def score(weight):
        calls.append(weight)
        return {tuning.OBJECTIVE: 0.3 if weight is None else 1 - abs(weight - 0.75), "other": 1.0}

    result = tuning.tune_fusion(score, "a test objective")
    assert result.image_weight == 0.75 and result.best == pytest.approx(1.0) and result.start == pytest.approx(0.3)
    assert calls == [None, *tuning.FUSION_GRID]
    assert [t["image_weight"] for t in result.trials] == list(tuning.FUSION_GRID)
    flat = tuning.tune_fusion(lambda w: {tuning.OBJECTIVE: 0.5}, "flat")
    assert flat.image_weight == tuning.FUSION_GRID[0]     # ties keep the first grid value


def test_tuned_weights_file_round_trip(tmp_path):
    path = tmp_path / "models" / "hybrid_weights.json"
    assert tuning.load_tuned(path) is None and tuning.tuned_image_weight(None) is None
    user = tuning.TuningResult({"content": 1.0, "popularity": 0.1}, "ndcg@10 on validation", 0.2, 0.1)
    similar = tuning.TuningResult({"content": 1.0, "als": 0.5}, "co-interaction ndcg@10 on validation", 0.05, 0.04)
    fusion = tuning.FusionTuning(0.25, "mean", 0.3, 0.28, [{"image_weight": 0.25, "mean": 0.3}])
    tuning.save_tuned_weights(path, user, {"content": 0.5}, similar, {"content": 1.0}, fusion)
    saved = tuning.load_tuned(path)
    assert saved["user_recommendations"] == user.weights and saved["similar_items"] == similar.weights
    assert saved["fusion"] == {"image": 0.25, "text": 0.75} and tuning.tuned_image_weight(saved) == 0.25
    assert saved["validation"]["similar_items"]["tuned"] == 0.05
    assert saved["validation"]["user_recommendations"]["defaults"] == {"content": 0.5}


def test_similar_candidates_for_some_queries_rank_like_the_whole_table():
    data = planted(n_users=60, n_items=120, seed=3)
    ids = IdMap(data.embeddings["product_id"].to_list())
    products = pl.DataFrame({"product_id": ids.product_ids.tolist(), "name": "x", "article_type": "t",
                             "colour": "c", "has_image": False})
    space = model_inputs.content_vectors(ids, data.embeddings).normalized()
    history = build_history(data.train, ids)
    config = SimilarItemsSettings(k=10, candidates_per_source=30, weights={"content": 1.0, "popularity": 0.3})
    table = build_similar_items(products, space, exact_search(space), history=history, config=config,
                                build_id="b").table
    queries = np.array([5, 17, 99])
    prepared = similar_candidates(space, exact_search(space), history=history, config=config, queries=queries)
    subset = rankings.reranked_similar(prepared, config.weights, 10, ids.product_ids)
    expected = table.filter(pl.col("product_id").is_in(ids.product_ids[queries].tolist()))
    assert subset["query_id"].to_list() == expected["product_id"].to_list()
    assert subset["product_id"].to_list() == expected["similar_product_id"].to_list()


def _planted_inputs(split: pl.DataFrame, data) -> EvaluationInputs:
    """Text vectors carry the clusters; image vectors mislead (each item gets the text vector of a random
    other item, so image neighbours sit in random clusters): the tuned fusion must lean to text."""
    ids = IdMap(data.embeddings["product_id"].to_list())
    text = np.stack(data.embeddings["fused_vector"].to_list())
    image = text[np.random.default_rng(9).permutation(len(text))]
    stored = (text + image) / np.linalg.norm(text + image, axis=1, keepdims=True)
    vec = pl.Array(pl.Float32, text.shape[1])
    embeddings = data.embeddings.with_columns(image_vector=pl.Series(image.tolist(), dtype=vec),
                                              text_vector=pl.Series(text.tolist(), dtype=vec),
                                              fused_vector=pl.Series(stored.tolist(), dtype=vec))
    train = split.filter(pl.col("split") == "train")
    products = pl.DataFrame({"product_id": ids.product_ids.tolist(), "source": "myntra_styles", "has_image": True,
                             "article_type": [f"type{data.item_cluster[p]}" for p in ids.product_ids],
                             "gender": "Men", "colour": "Black"})
    return EvaluationInputs(products=products, ids=ids,
                            embeddings=embeddings, split=split, history_rows=train,
                            history=build_history(train, ids, users=split["user_id"].unique().to_list()),
                            tower=None, als=None)


@pytest.fixture(scope="module")
def planted_split():
    data = planted(n_users=90, n_items=150, clicks=8, heldout=4, seed=1)
    heldout = data.heldout.with_columns(pos=pl.int_range(pl.len()).over("user_id"))
    split = pl.concat([
        data.train.with_columns(split=pl.lit("train")),
        heldout.with_columns(split=pl.when(pl.col("pos") < 2).then(pl.lit("validation")).otherwise(pl.lit("test")))
        .drop("pos"),
    ]).select("user_id", "product_id", "event", "value", "ts", "split")
    return data, split


def test_validation_tuning_prefers_the_informative_modality_and_never_reads_test(planted_split):
    data, split = planted_split
    tuned = tune_on_validation(_planted_inputs(split, data), k=10, candidates_per_source=40)
    scores = {t["image_weight"]: t[tuning.OBJECTIVE] for t in tuned.fusion.trials}
    assert tuned.fusion.image_weight <= 0.25 and scores[tuned.fusion.image_weight] > scores[1.0]
    assert tuned.fusion.best >= tuned.fusion.start
    assert tuned.user.best >= tuned.user.start and tuned.similar.best >= tuned.similar.start
    assert tuned.queries["co_interaction"] > 0 and tuned.queries["attributes"] > 0
    assert set(tuned.similar.weights) == {"content", "popularity"}
    rng = np.random.default_rng(0)
    items = data.embeddings["product_id"]
    scrambled = split.with_columns(product_id=pl.when(pl.col("split") == "test")
                                   .then(pl.Series(items.gather(rng.integers(0, items.len(), split.height))))
                                   .otherwise(pl.col("product_id")))
    again = tune_on_validation(_planted_inputs(scrambled, data), k=10, candidates_per_source=40)
    assert again.fusion.trials == tuned.fusion.trials
    assert (again.user.weights, again.user.best) == (tuned.user.weights, tuned.user.best)
    assert (again.similar.weights, again.similar.best) == (tuned.similar.weights, tuned.similar.best)


def test_without_image_vectors_the_fusion_is_text_only_and_not_tuned(planted_split):
    data, split = planted_split
    inputs = _planted_inputs(split, data)
    text_only = replace(inputs, embeddings=inputs.embeddings.with_columns(
        image_vector=pl.lit(None, dtype=inputs.embeddings.schema["image_vector"])))
    tuned = tune_on_validation(text_only, k=10, candidates_per_source=40)
    assert tuned.fusion.image_weight == 0.0 and [t["image_weight"] for t in tuned.fusion.trials] == [0.0]
    assert "no image vectors" in tuned.fusion.objective


@pytest.mark.slow
def test_index_and_tables_use_the_tuned_weights(tmp_path):
    from assets.catalog import silver_catalog
    from assets.evaluation import hybrid_weights
    from assets.index import faiss_index
    from assets.tables import gold_products, similar_items, user_recommendations
    from recsys.index import ItemIndex
    from resources import default_resources
    from tests.conftest import build_tiny_lake
    from tests.helpers import write_upstream_fixtures

    lake = build_tiny_lake(tmp_path / "lake")
    resources = default_resources(str(lake))
    assert dg.materialize([silver_catalog], resources=resources).success
    write_upstream_fixtures(lake)
    result = dg.materialize([gold_products, hybrid_weights, faiss_index, similar_items, user_recommendations],
                            resources=resources)
    assert result.success
    saved = json.loads((lake / "models" / "hybrid_weights.json").read_text())
    assert ItemIndex.load(lake / "models" / "faiss_index").manifest.vectors.image_weight == saved["fusion"]["image"]
    materializations = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    used = {m.asset_key.to_user_string(): m.metadata["weights"].data for m in materializations if "weights" in m.metadata}
    assert used["gold/similar_items"] == saved["similar_items"]
    assert used["gold/user_recommendations"] == saved["user_recommendations"]


def test_a_large_user_base_is_scored_on_a_fixed_sample_with_the_whole_popularity(planted_split, tmp_path):
    data, split = planted_split
    products = pl.DataFrame({"product_id": data.embeddings["product_id"]})
    everyone = load_inputs(products, data.embeddings, split, ["train"], tmp_path / "no_als", tmp_path / "no_tower", None)
    sampled = load_inputs(products, data.embeddings, split, ["train"], tmp_path / "no_als", tmp_path / "no_tower",
                          None, max_users=30, seed=0)
    assert everyone.history.n_users == 90 and sampled.history.n_users == 30
    assert set(sampled.split["user_id"]) == set(sampled.history.user_ids)          # truth and history agree
    np.testing.assert_array_equal(sampled.history.popularity, everyone.history.popularity)
    again = load_inputs(products, data.embeddings, split.reverse(), ["train"], tmp_path / "no_als",
                        tmp_path / "no_tower", None, max_users=30, seed=0)
    assert again.history.user_ids.tolist() == sampled.history.user_ids.tolist()    # the ids decide, not the order
    users = split["user_id"].unique()
    assert set(sample_users(users, 30, seed=0)) <= set(sample_users(users, 45, seed=0))
    assert set(sample_users(users, 30, seed=1)) != set(sampled.history.user_ids)
    assert sample_users(users, None).equals(users)
