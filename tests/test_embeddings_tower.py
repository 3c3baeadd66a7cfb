"""The image tower: contrastive training on a fixture with a known answer, determinism, save/load,
the alignment metrics and the baselines."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import torch

from recsys.embeddings.alignment_metrics import alignment_report, recall_at_k, zero_shot_accuracy
from recsys.embeddings.baselines import RidgeBaseline, colour_pixel_features, embed_with, random_tower_vectors
from recsys.embeddings.contrastive import TowerTrainingParams, train_image_tower
from recsys.embeddings.image_tower import ImageTower, TowerParams, read_version, write_skipped
from recsys.embeddings.local_backend import LocalEncoder
from recsys.embeddings.text_memory import MIXES, TEMPERATURES, choose_readout, readout
from recsys.embeddings.tower_fit import PairMinimum, TooFewPairs, TowerFitSettings, fit_image_tower, too_few_pairs

SMALL = TowerParams(input_height=32, input_width=24, widths=(8, 16, 32), head_hidden=64, embed_dim=24)
COLOURS = np.array([(220, 30, 30), (30, 30, 220), (30, 170, 30), (20, 20, 20)], dtype=np.uint8)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def shapes_fixture(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Products = (colour, shape) classes on white; each class has a text direction (plus a little noise)."""
    rng = np.random.default_rng(seed)
    class_text = _unit(np.random.default_rng(0).normal(size=(8, SMALL.embed_dim)))
    images = np.full((n, SMALL.input_height, SMALL.input_width, 3), 255, dtype=np.uint8)
    labels = rng.integers(0, 8, n)
    for i, label in enumerate(labels):
        colour, tall = COLOURS[label % 4], label >= 4
        h, w = (rng.integers(18, 26), rng.integers(5, 8)) if tall else (rng.integers(5, 8), rng.integers(14, 20))
        top, left = rng.integers(0, SMALL.input_height - h), rng.integers(0, SMALL.input_width - w)
        images[i, top:top + h, left:left + w] = colour
    texts = _unit(class_text[labels] + 0.05 * rng.normal(size=(n, SMALL.embed_dim)))
    return images, texts, labels


def _train(images, texts, seed=0, epochs=12, precision="auto"):
    config = TowerTrainingParams(epochs=epochs, batch_size=32, learning_rate=3e-3, seed=seed)
    return train_image_tower(images, texts, SMALL, config, threads=1, precision=precision)


@pytest.fixture(scope="module")
def trained():
    images, texts, labels = shapes_fixture(192, seed=1)
    return _train(images, texts), (images, texts, labels)


def test_same_product_image_and_text_are_nearer_than_random_pairs(trained):
    fit, _ = trained
    images, texts, labels = shapes_fixture(64, seed=2)  # unseen images
    vectors = embed_with(fit.tower, images)
    own = (vectors * texts).sum(axis=1)
    shuffled = (vectors * texts[np.random.default_rng(3).permutation(len(texts))]).sum(axis=1)
    assert own.mean() > shuffled.mean() + 0.3
    assert recall_at_k(texts, vectors, (5,))[5] > 0.4  # chance: 5/64; ceiling ~5/8 (8 products per class)
    untrained = random_tower_vectors(images, SMALL, seed=0)
    assert recall_at_k(texts, vectors, (5,))[5] > recall_at_k(texts, untrained, (5,))[5]


def test_training_curve_is_recorded_and_loss_falls(trained):
    fit, _ = trained
    assert [r.epoch for r in fit.curve] == list(range(1, 13))
    assert fit.curve[-1].loss < fit.curve[0].loss
    assert all(r.images_per_second > 0 and r.temperature > 0 for r in fit.curve)


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_training_is_deterministic_given_the_seed(precision):
    images, texts, _ = shapes_fixture(64, seed=4)
    first = _train(images, texts, seed=5, epochs=2, precision=precision).tower.state_dict()
    second = _train(images, texts, seed=5, epochs=2, precision=precision).tower.state_dict()
    other = _train(images, texts, seed=6, epochs=2, precision=precision).tower.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_save_and_load_round_trip(trained, tmp_path):
    fit, (images, _, _) = trained
    version = fit.tower.save_pretrained(tmp_path / "tower", training={"note": "test"})
    loaded = ImageTower.from_pretrained(tmp_path / "tower")
    assert read_version(tmp_path / "tower") == version and loaded.config == SMALL
    np.testing.assert_allclose(embed_with(loaded, images[:16]), embed_with(fit.tower, images[:16]), atol=1e-6)
    # The version names the weights, not the training notes.
    assert fit.tower.save_pretrained(tmp_path / "again", training={"note": "other"}) == version
    with pytest.raises(FileNotFoundError, match="models/image_tower"):
        ImageTower.from_pretrained(tmp_path / "missing")


def test_recall_counts_ties_against_the_query():
    texts = np.eye(3, dtype=np.float32)
    assert recall_at_k(texts, texts, (1,)) == {1: 1.0}
    collapsed = np.tile(_unit(np.ones((1, 3))), (3, 1))  # every image at one point
    assert recall_at_k(texts, collapsed, (1, 2, 3)) == {1: 0.0, 2: 0.0, 3: 1.0}
    swapped = texts[[1, 0, 2]]
    assert recall_at_k(texts, swapped, (1,)) == {1: pytest.approx(1 / 3)}


def test_zero_shot_and_report():
    prompts = np.eye(2, dtype=np.float32)
    images = _unit(np.array([[1.0, 0.1], [0.2, 1.0], [1.0, 0.0]], dtype=np.float32))
    assert zero_shot_accuracy(images, ["shirt", "shoe", "shoe"], prompts, ["shirt", "shoe"]) == pytest.approx(2 / 3)
    report = alignment_report(images, images, ["shirt", "shoe", "shoe"], prompts, ["shirt", "shoe"], ks=(1,))
    assert set(report) == {"text_to_image@1", "image_to_text@1", "zero_shot_accuracy"}


def test_colour_features_are_histogram_shares_and_block_means_chunk_by_chunk():
    images = np.random.default_rng(0).integers(0, 256, size=(7, 48, 36, 3), dtype=np.uint8)
    images[0] = (255, 0, 0)                                       # one pure red picture
    features = colour_pixel_features(images, chunk=3)
    np.testing.assert_array_equal(features, colour_pixel_features(images, chunk=100))
    assert features[0, :64].sum() == pytest.approx(1.0) and features[0, 3 * 16] == 1.0   # red: bin (3, 0, 0)
    np.testing.assert_allclose(features[:, :64].sum(axis=1), 1.0, rtol=1e-6)
    blocks = images[1, :3, :3].astype(np.float32).mean(axis=(0, 1)) / 255.0            # the first 3x3 block
    np.testing.assert_allclose(features[1, 64:67], blocks, rtol=1e-5)
    assert colour_pixel_features(images[:0]).shape == (0, 64 + 16 * 12 * 3)


def test_ridge_baseline_learns_colour(trained):
    _, (images, texts, _) = trained
    assert colour_pixel_features(images[:2]).shape == (2, 64 + 16 * 12 * 3)
    test_images, test_texts, _ = shapes_fixture(64, seed=7)
    ridge = RidgeBaseline().fit(images, texts)
    predicted = ridge.predict(test_images)
    np.testing.assert_allclose(np.linalg.norm(predicted, axis=1), 1.0, atol=1e-5)
    assert ridge.alpha in RidgeBaseline().alphas
    assert (predicted * test_texts).sum(axis=1).mean() > 0.3


def test_readout_mixes_towards_the_memory_and_hides_excluded_rows():
    memory = torch.eye(3)
    vector = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2, 0.0]]), dim=-1)
    assert torch.allclose(readout(vector, memory, 0.05, 0.0), vector)
    pulled = readout(vector, memory, 0.01, 1.0)
    assert torch.allclose(pulled, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-3)
    hidden = readout(vector, memory, 0.01, 1.0, exclude=torch.tensor([[True, False, False]]))
    assert torch.allclose(hidden, torch.tensor([[0.0, 1.0, 0.0]]), atol=1e-3)


def test_readout_choice_uses_training_pairs_and_is_saved_with_the_tower(trained, tmp_path):
    fit, (images, texts, labels) = trained
    vectors = embed_with(fit.tower, images, use_readout=False)
    keys = [f"class{label}-{i % 3}" for i, label in enumerate(labels)]  # a few products share each text
    memory_keys, first = np.unique(keys, return_index=True)
    choice = choose_readout(vectors, texts, keys, texts[first], memory_keys.tolist(), sample=100)
    assert choice.temperature in TEMPERATURES and choice.mix in MIXES and len(choice.scores) == 20
    best = max(choice.scores.values(), key=lambda s: s["objective"])
    assert best == choice.scores[f"temperature={choice.temperature},mix={choice.mix}"]
    tower = copy.deepcopy(fit.tower)  # the module fixture stays readout-free
    tower.set_readout(torch.from_numpy(texts[first]), choice.temperature, 0.5)
    tower.save_pretrained(tmp_path / "t")
    loaded = ImageTower.from_pretrained(tmp_path / "t")
    assert loaded.readout_mix == 0.5 and loaded.text_memory.shape == (len(first), SMALL.embed_dim)
    np.testing.assert_allclose(embed_with(loaded, images[:8]), embed_with(tower, images[:8]), atol=1e-6)
    assert not np.allclose(embed_with(loaded, images[:8]), embed_with(loaded, images[:8], use_readout=False))


def _pairs(n_myntra: int, n_other: int = 0, image_path: str = "missing.jpg") -> pl.DataFrame:
    n = n_myntra + n_other
    return pl.DataFrame({"product_id": [f"p{i:04d}" for i in range(n)],
                         "source": ["myntra_styles"] * n_myntra + ["asos"] * n_other,
                         "article_type": ["Tshirts"] * n, "text": [f"text {i}" for i in range(n)],
                         "text_key": [f"k{i}" for i in range(n)], "image_path": [image_path] * n,
                         "sha256": [f"s{i}" for i in range(n)]},
                        schema={c: pl.String for c in ("product_id", "source", "article_type", "text", "text_key",
                                                       "image_path", "sha256")})


def test_too_few_pairs_names_what_is_missing():
    settings = TowerFitSettings(heldout_pairs=24)
    assert too_few_pairs(_pairs(120), settings, PairMinimum(training=80, heldout=20)) is None
    reason = too_few_pairs(_pairs(36), settings, PairMinimum(training=80, heldout=20))
    assert "29 to train (minimum 80)" in reason and "7 myntra_styles pairs held out (minimum 20)" in reason
    # Plenty of pairs, but none of the held-out source: nothing to score the tower on.
    assert "0 myntra_styles pairs held out" in too_few_pairs(_pairs(0, 500), settings, PairMinimum())


@pytest.mark.parametrize("pairs", [_pairs(0), _pairs(36)])
def test_fitting_on_too_few_pairs_says_so_instead_of_crashing(pairs):
    with pytest.raises(TooFewPairs):
        fit_image_tower(pairs, text_encoder=None, settings=TowerFitSettings())


def test_pairs_whose_images_fail_to_decode_do_not_count(tmp_path):
    with pytest.raises(TooFewPairs, match="after 200 thumbnails failed to decode"):
        fit_image_tower(_pairs(200, image_path=str(tmp_path / "gone.jpg")),
                        text_encoder=SimpleNamespace(name="minilm", version="v1"),
                        settings=TowerFitSettings(heldout_pairs=24), decode_workers=1)


def test_a_skipped_tower_folder_gives_a_text_only_local_encoder(tmp_path):
    write_skipped(tmp_path / "image_tower", "12 usable (image, text) pairs", {"pairs": 12})
    encoder = LocalEncoder(tmp_path / "image_tower", text_encoder=SimpleNamespace(name="minilm", version="v1"))
    assert "12 usable (image, text) pairs" in encoder.no_images_reason
    assert encoder.image_encoder_id.endswith("@none") and encoder.version == "v1+none"
    encoded = encoder.encode_images([tmp_path / "any.jpg"])
    assert not encoded.ok.any() and "no image tower was trained" in encoded.errors[0]
