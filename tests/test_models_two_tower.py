"""Two-tower: learns, beats popularity on planted structure, serves new users and cold items."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from recsys.models.als import ALSParams, ALSRecommender
from recsys.models.matrix import Interactions
from recsys.models.popularity import PopularityRecommender
from recsys.models.stages import item_tower_vectors
from recsys.index.clustered import ClusteredSearchSettings
from recsys.models.two_tower import ItemFeatures, TwoTowerParams, TwoTowerRecommender
from recsys.models.validation import RankingProbe
from recsys.vectors import vector_matrix
from tests.interaction_fixtures import embeddings_frame, event_frame, planted

SMALL = dict(dim=32, hidden=64, batch_size=128, uniform_negatives=128, temperature=0.1, lr=5e-3, seed=0)


@pytest.fixture(scope="module")
def data():
    return planted(n_users=240, n_items=360, clusters=6, clicks=12, heldout=3, seed=0)


def fit(data, probe_users: int = 1000, **overrides) -> tuple[TwoTowerRecommender, Interactions, RankingProbe]:
    params = TwoTowerParams(**{**SMALL, "max_epochs": 12, "patience": 3, **overrides})
    catalog = data.embeddings["product_id"].to_list()
    train = Interactions.from_events(data.train, item_ids=catalog)
    probe = RankingProbe.from_events(data.heldout, k=10, max_users=probe_users)
    als = ALSRecommender(ALSParams(factors=8, iterations=5, num_threads=1)).fit(Interactions.from_events(data.train)) \
        if params.use_als else None
    features = ItemFeatures.build(data.embeddings, train, *((als.item_ids, als.item_factors) if als else ()))
    return TwoTowerRecommender(params).fit(train, features, probe), train, probe


@pytest.fixture(scope="module")
def trained(data):
    return fit(data)


def test_overfits_a_tiny_set():
    """Random content, random baskets: given enough epochs the towers memorise who has what
    (a random ranking would put 5/32 of a user's items in the top 5)."""
    rng = np.random.default_rng(1)
    catalog = [f"p{i:02d}" for i in range(32)]
    embeddings = embeddings_frame(catalog, rng.normal(size=(32, 16)))
    users = [f"u{u:02d}" for u in range(16) for _ in range(5)]
    items = [catalog[i] for _ in range(16) for i in rng.choice(32, 5, replace=False)]
    events = event_frame(users, items, range(len(users)))
    train = Interactions.from_events(events, item_ids=catalog)
    model = TwoTowerRecommender(TwoTowerParams(**{**SMALL, "lr": 1e-2, "batch_size": 32, "uniform_negatives": 16,
                                                  "short_history_rate": 0.0, "max_epochs": 120, "patience": 120}))
    model.fit(train, ItemFeatures.build(embeddings, train))
    curve = model.summary["curve"]
    assert curve[-1]["train_loss"] < 0.4 * curve[0]["train_loss"]
    own = RankingProbe.from_events(events, k=5, max_users=1000)
    top = model.recommend(own.user_ids, k=5, exclude_seen=False)
    hits = [len(set(items) & relevant) / len(relevant) for items, relevant in zip(top.item_ids.tolist(), own.relevant)]
    assert np.mean(hits) > 0.7


def test_beats_popularity_on_held_out_planted_structure(trained):
    model, train, probe = trained
    two_tower = probe.evaluate(model)["recall@10"]
    popularity = probe.evaluate(PopularityRecommender().fit(train))["recall@10"]
    assert two_tower > 2 * popularity
    assert model.summary["best_epoch"] <= model.summary["epochs_run"]
    assert model.summary["best_validation"]["recall@10"] == pytest.approx(two_tower)


def test_a_user_with_two_interactions_gets_recommendations(data, trained):
    model = trained[0]
    cluster = 2
    two = [p for p, c in data.item_cluster.items() if c == cluster and p not in data.cold_items][:2]
    vector = model.embed_user(two)
    assert vector.shape == (model.params.dim,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    top = model.recommend_for_history(two, k=10)
    assert top.height == 10 and not set(top["product_id"]) & set(two)
    assert top["rank"].to_list() == list(range(1, 11))
    assert np.mean([data.item_cluster[p] == cluster for p in top["product_id"]]) > 0.8
    assert np.allclose(model.embed_users([two, list(reversed(two))])[0], vector, atol=1e-6)
    with pytest.raises(ValueError):
        model.embed_user(["not-a-product"])


def test_an_item_with_no_interactions_gets_a_vector(data, trained):
    model = trained[0]
    cold_rows = model.item_rows(data.cold_items)
    assert (cold_rows >= 0).all() and not model.item_is_warm[cold_rows].any()
    vectors = model.item_vectors[cold_rows]
    assert np.isfinite(vectors).all() and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    warm = np.flatnonzero(model.item_is_warm)
    nearest = warm[np.argmax(vectors @ model.item_vectors[warm].T, axis=1)]
    same = [data.item_cluster[model.item_ids[n]] == data.item_cluster[p] for n, p in zip(nearest, data.cold_items)]
    assert np.mean(same) > 0.8


def test_cold_items_sit_with_warm_items_of_their_kind(data, trained):
    """Items nobody clicked are not pushed away from the users who would like them: their mean
    cosine to the users of their cluster is about that of the cluster's clicked items (with
    negatives drawn from the whole catalog they sat 0.12 below: memorised as negatives)."""
    model = trained[0]
    users = list(data.user_cluster)
    vectors = model.user_vectors[model.user_rows(users)]
    user_cluster = np.array([data.user_cluster[u] for u in users])

    def own_cluster_cosine(product_ids: list[str]) -> float:
        cosine = vectors @ model.item_vectors[model.item_rows(product_ids)].T
        return float(cosine[user_cluster[:, None] == np.array([data.item_cluster[p] for p in product_ids])].mean())

    warm = [p for p in model.item_ids.tolist() if p not in set(data.cold_items)]
    assert own_cluster_cosine(data.cold_items) > own_cluster_cosine(warm) - 0.05


def test_a_cold_item_matching_a_users_taste_is_reachable(data):
    """In every cluster one never-clicked item gets the mean content of what the cluster clicked:
    it must reach the top 10 of the cluster's users (catalog-wide negatives: about half of them)."""
    ids = data.embeddings["product_id"].to_list()
    content = vector_matrix(data.embeddings["fused_vector"]).copy()
    clicked, cold = set(data.train["product_id"]), set(data.cold_items)
    matched = {}
    for cluster in sorted(set(data.item_cluster.values())):
        members = [i for i, p in enumerate(ids) if data.item_cluster[p] == cluster]
        target = next(i for i in members if ids[i] in cold)
        content[target] = content[[i for i in members if ids[i] in clicked]].mean(axis=0)
        matched[cluster] = ids[target]
    model, _, _ = fit(replace(data, embeddings=embeddings_frame(ids, content)))
    assert not model.item_is_warm[model.item_rows(list(matched.values()))].any()
    top = model.recommend(list(data.user_cluster), k=10)
    reached = [matched[data.user_cluster[u]] in items for u, items in zip(top.user_ids.tolist(), top.item_ids.tolist())]
    assert np.mean(reached) > 0.95


def test_products_added_after_training_are_encoded_from_content(data, trained):
    model = trained[0]
    centroid_like = data.embeddings.filter(pl.col("product_id") == data.cold_items[0])["fused_vector"].to_numpy()
    extra = embeddings_frame(["brand-new"], np.asarray(centroid_like, dtype=np.float32).reshape(1, -1))
    catalog = pl.concat([data.embeddings, extra])
    vectors = item_tower_vectors(model, catalog)
    assert vectors.height == catalog.height and vectors["product_id"].is_unique().all()
    new = vectors.filter(pl.col("product_id") == "brand-new")
    assert new["source"].item() == "content" and not new["warm"].item()
    twin = vectors.filter(pl.col("product_id") == data.cold_items[0])
    assert np.allclose(new["vector"].to_numpy(), twin["vector"].to_numpy(), atol=1e-5)
    assert set(vectors["model_version"]) == {model.version}


def test_round_trip_keeps_the_user_tower(trained, tmp_path):
    model = trained[0]
    model.save_pretrained(tmp_path / "tt")
    again = TwoTowerRecommender.from_pretrained(tmp_path / "tt")
    history = list(model.item_ids[:3])
    assert np.allclose(again.embed_user(history), model.embed_user(history), atol=1e-6)
    assert again.summary["curve"] == model.summary["curve"]
    assert (tmp_path / "tt" / "weights.safetensors").exists()


def test_same_seed_same_model(data):
    a, _, _ = fit(data, max_epochs=2)
    b, _, _ = fit(data, max_epochs=2)
    assert np.allclose(a.item_vectors, b.item_vectors, atol=1e-5)


@pytest.mark.parametrize("loss", ["bpr", "mse"])
def test_other_objectives_train_and_rank(data, loss):
    model, train, probe = fit(data, loss=loss, max_epochs=3)
    scores = model.score(probe.user_ids[:5].tolist(), list(model.item_ids[:5]))
    assert np.isfinite(scores).all()
    assert len(model.summary["curve"]) >= 1
    top = model.recommend(probe.user_ids[:3], k=5)
    assert top.item_ids.shape == (3, 5)


def test_als_factors_as_item_input(data):
    model, _, _ = fit(data, use_als=True, max_epochs=2)
    assert model.item_is_warm.sum() > 0
    assert np.isfinite(model.item_vectors).all()


def test_an_epoch_is_a_fresh_sample_of_at_most_examples_per_epoch(data):
    """A cap at or above the examples changes nothing; below, each epoch trains on a sample of that
    many examples (a fifth of them here) and the towers still learn the planted structure."""
    every, _, _ = fit(data, max_epochs=2, examples_per_epoch=None)
    above, _, _ = fit(data, max_epochs=2, examples_per_epoch=10**9)
    assert np.allclose(every.item_vectors, above.item_vectors, atol=1e-6)
    examples = every.summary["examples"]
    capped, train, probe = fit(data, examples_per_epoch=examples // 5)
    assert capped.summary["examples_per_epoch"] == examples // 5
    assert not np.allclose(capped.item_vectors, every.item_vectors, atol=1e-3)
    popularity = probe.evaluate(PopularityRecommender().fit(train))["recall@10"]
    assert probe.evaluate(capped)["recall@10"] > 2 * popularity


def test_examples_per_epoch_must_be_positive():
    with pytest.raises(ValueError, match="examples_per_epoch"):
        TwoTowerParams(examples_per_epoch=0)


def test_between_epochs_only_the_probes_users_are_embedded(data, monkeypatch):
    """After an epoch the validation probe reads only its users' vectors, so only they are embedded
    (a million training users once, at the end): the same curve and model as embedding everyone."""
    original = TwoTowerRecommender.refresh_vectors
    embedded: list[int] = []

    def counting(self, train, features, users=None):
        embedded.append(train.n_users if users is None else len(users))
        original(self, train, features, users)

    monkeypatch.setattr(TwoTowerRecommender, "refresh_vectors", counting)
    model, train, probe = fit(data, probe_users=40, max_epochs=3)
    known = int((model.user_rows(probe.user_ids.tolist()) >= 0).sum())
    assert 0 < known < train.n_users and embedded == [known] * 3 + [train.n_users]
    monkeypatch.setattr(TwoTowerRecommender, "refresh_vectors",
                        lambda self, train, features, users=None: original(self, train, features))
    everyone, _, _ = fit(data, probe_users=40, max_epochs=3)
    metrics = [{k: v for k, v in point.items() if "@" in k or k == "train_loss"} for point in model.summary["curve"]]
    assert metrics == [{k: v for k, v in point.items() if "@" in k or k == "train_loss"}
                       for point in everyone.summary["curve"]]
    assert np.allclose(model.user_vectors, everyone.user_vectors, atol=1e-6)


def test_shoppers_scored_together_get_the_lists_they_get_alone(data, trained):
    model = trained[0]
    ids = model.item_ids.tolist()
    histories = [ids[:2], ids[5:8], [ids[9]], ids[3:4] + ids[11:13]]
    together = model.recommend_for_histories(histories, [10, 3, 25, 7])
    for history, k, (got, scores) in zip(histories, [10, 3, 25, 7], together):
        alone = model.recommend_for_history(history, k=k)
        assert got == alone["product_id"].to_list() and len(got) == k
        np.testing.assert_allclose(scores, alone["score"].to_numpy(), rtol=1e-5)
        assert not set(got) & set(history)


def test_a_shopper_search_answers_like_scoring_every_item(data, trained):
    """The clustered search serves large catalogs; tuned to its target, its lists match the exact ones
    nearly everywhere and never repeat the history."""
    model = trained[0]
    exact_search = model.shopper_search()
    assert exact_search.quality.kind == "flat"      # a small catalog is searched exactly
    clustered = model.shopper_search(ClusteredSearchSettings(exact_max_items=10, target_recall=0.9))
    assert clustered.quality.kind == "ivf" and clustered.quality.recall >= 0.9
    ids = model.item_ids.tolist()
    histories = [ids[i:i + 3] for i in range(0, 60, 3)]
    full = model.recommend_for_histories(histories, [10] * len(histories))
    exact = model.recommend_for_histories(histories, [10] * len(histories), search=exact_search)
    approximate = model.recommend_for_histories(histories, [10] * len(histories), search=clustered)
    overlap = []
    for history, (full_ids, full_scores), (exact_ids, exact_scores), (got, _) in zip(histories, full, exact, approximate):
        np.testing.assert_allclose(exact_scores, full_scores, rtol=1e-5)
        assert len(got) == 10 and not set(got) & set(history) and not set(exact_ids) & set(history)
        overlap.append(len(set(got) & set(full_ids)) / 10)
    assert np.mean(overlap) >= 0.8


def test_a_rating_head_is_never_searched_by_cosine(data):
    model, _, _ = fit(data, loss="mse", max_epochs=1)
    assert model.shopper_search() is None
