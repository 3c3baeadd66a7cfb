"""ALS: confidence weighting, BLAS threads held at one, planted structure recovered, the stage."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_info

from recsys.interactions import SplitSettings, split_interactions
from recsys.models.als import ALSParams, ALSRecommender, confidence_matrix
from recsys.models.matrix import Interactions
from recsys.models.popularity import PopularityRecommender
from recsys.models.stages import ProbeSettings, train_als
from recsys.models.validation import RankingProbe
from tests.interaction_fixtures import event_frame, planted

PARAMS = ALSParams(factors=8, regularization=0.05, alpha=5.0, iterations=12, seed=0, num_threads=1)


@pytest.fixture(scope="module")
def data():
    return planted(n_users=240, n_items=360, clusters=6, clicks=12, heldout=3, seed=0)


def test_confidence_is_one_plus_alpha_strength():
    events = event_frame(["u", "u", "v"], ["a", "a", "b"], [0, 1, 2])
    train = Interactions.from_events(events)
    confidence = confidence_matrix(train, alpha=3.0).toarray()
    assert confidence.tolist() == [[1 + 3 * 2.0, 0.0], [0.0, 1 + 3 * 1.0]]
    assert train.matrix.toarray()[0, 0] == 2.0            # the input is left as it was


def test_blas_threads_are_limited_during_fit(data):
    seen_threads = []

    def record(iteration, seconds, model):
        seen_threads.extend(api["num_threads"] for api in threadpool_info() if api["user_api"] == "blas")

    ALSRecommender(PARAMS).fit(Interactions.from_events(data.train), on_iteration=record)
    assert seen_threads and set(seen_threads) == {1}


def test_recovers_planted_clusters(data):
    model = ALSRecommender(PARAMS).fit(Interactions.from_events(data.train))
    assert model.finite
    top = model.recommend(list(data.user_cluster), k=10).to_frame()
    same_cluster = top.with_columns(
        user_cluster=pl.col("user_id").replace_strict(data.user_cluster),
        item_cluster=pl.col("product_id").replace_strict(data.item_cluster))
    assert (same_cluster["user_cluster"] == same_cluster["item_cluster"]).mean() > 0.9
    probe = RankingProbe.from_events(data.heldout, k=10, max_users=1000)
    als = probe.evaluate(model)["recall@10"]
    popularity = probe.evaluate(PopularityRecommender().fit(Interactions.from_events(data.train)))["recall@10"]
    assert als > 2 * popularity


def test_same_seed_same_factors(data):
    train = Interactions.from_events(data.train)
    a, b = ALSRecommender(PARAMS).fit(train), ALSRecommender(PARAMS).fit(train)
    assert np.allclose(a.item_factors, b.item_factors)


def test_stage_records_curve_and_baseline(data):
    split = split_interactions(pl.concat([data.train, data.heldout]), SplitSettings(new_user_fraction=0.0)).frame
    stage = train_als(split, PARAMS, ProbeSettings(k=10, max_users=500), curve_every=4)
    assert [point["iteration"] for point in stage.curve] == [4, 8, 12]
    assert stage.validation == {k: v for k, v in stage.curve[-1].items() if "@" in k}
    assert stage.validation["recall@10"] > stage.popularity_validation["recall@10"]
    assert stage.model.summary["curve"] == stage.curve
    assert set(stage.seconds) == {"matrix", "fit_with_curve", "validation", "total"}
