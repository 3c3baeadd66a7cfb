"""The CLIP backend, proven on a tiny CLIP saved with save_pretrained and loaded through the real path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recsys.embeddings import ClipCheckpointMissing, ClipEncoder
from recsys.embeddings.clip_random import save_random_clip
from resources.encoders import EncoderResource

PROJECTION_DIM = 16


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    """A randomly initialised CLIP (2 layers, 32 wide, 32 px images) with a byte-level BPE tokenizer."""
    return save_random_clip(
        tmp_path_factory.mktemp("clip") / "tiny-clip",
        text_config={"vocab_size": 514, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 40},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=PROJECTION_DIM)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clip_images")
    paths = []
    for i, (size, colour) in enumerate([((40, 60), (200, 30, 30)), ((64, 64), (20, 20, 220)), ((90, 50), (20, 160, 20))]):
        paths.append(folder / f"{i}.jpg")
        Image.new("RGB", size, colour).save(paths[-1])
    (folder / "broken.jpg").write_bytes(b"nope")
    return paths + [folder / "broken.jpg"]


def test_shapes_normalization_and_failures(tiny_clip, images):
    encoder = ClipEncoder(str(tiny_clip), image_batch_size=2)
    assert encoder.dimension == PROJECTION_DIM and encoder.name == "clip:tiny-clip"
    texts = encoder.encode_texts(["a red dress", "blue jeans for men", "x" * 500])  # the last is truncated
    assert texts.shape == (3, PROJECTION_DIM) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    encoded = encoder.encode_images(images)
    assert encoded.vectors.shape == (4, PROJECTION_DIM)
    assert encoded.ok.tolist() == [True, True, True, False] and "UnidentifiedImageError" in encoded.errors[3]
    np.testing.assert_allclose(np.linalg.norm(encoded.vectors[:3], axis=1), 1.0, atol=1e-5)
    assert np.isnan(encoded.vectors[3]).all()


def test_same_checkpoint_same_vectors_and_version(tiny_clip, images):
    first, second = ClipEncoder(str(tiny_clip)), ClipEncoder(str(tiny_clip), image_batch_size=1)
    assert first.version == second.version and first.text_encoder_id == first.image_encoder_id
    np.testing.assert_allclose(first.encode_texts(["red dress", "shoes"]), second.encode_texts(["red dress", "shoes"]),
                               atol=1e-6)
    np.testing.assert_allclose(first.encode_images(images[:3]).vectors, second.encode_images(images[:3]).vectors,
                               atol=1e-5)


def test_vectors_equal_the_transformers_pipeline(tiny_clip, images):
    """Our tokenizer call + Pillow preprocessing + get_*_features == transformers' own processor + model."""
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    encoder = ClipEncoder(str(tiny_clip))
    model, tokenizer = CLIPModel.from_pretrained(tiny_clip).eval(), AutoTokenizer.from_pretrained(tiny_clip)
    processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    with torch.inference_mode():
        text = model.get_text_features(**tokenizer(["a red dress"], return_tensors="pt")).pooler_output
        pixels = processor([Image.open(p).convert("RGB") for p in images[:3]], return_tensors="pt")["pixel_values"]
        image = model.get_image_features(pixel_values=pixels).pooler_output
    np.testing.assert_allclose(encoder.encode_texts(["a red dress"]), torch.nn.functional.normalize(text).numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(encoder.encode_images(images[:3]).vectors, torch.nn.functional.normalize(image).numpy(),
                               atol=1e-4)


def test_changed_weights_change_the_version(tiny_clip, tmp_path):
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(tiny_clip)
    with torch.no_grad():
        model.text_projection.weight.mul_(2)
    model.save_pretrained(tmp_path / "tiny-clip")
    AutoTokenizer.from_pretrained(tiny_clip).save_pretrained(tmp_path / "tiny-clip")
    assert ClipEncoder(str(tmp_path / "tiny-clip")).version != ClipEncoder(str(tiny_clip)).version


def test_missing_checkpoint_says_how_to_get_it_or_switch_backend(tmp_path):
    for name in (str(tmp_path / "no-such-folder"), "openai/clip-vit-base-patch32"):
        with pytest.raises(ClipCheckpointMissing) as error:
            ClipEncoder(name, allow_download=False)
        message = str(error.value)
        assert name in message and "clip_name_or_path" in message and "backend='local'" in message
    (tmp_path / "not-clip").mkdir()
    (tmp_path / "not-clip" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ClipCheckpointMissing):
        ClipEncoder(str(tmp_path / "not-clip"))


def test_resource_builds_the_clip_backend(tiny_clip):
    resource = EncoderResource(backend="clip", clip_name_or_path=str(tiny_clip), device="auto", threads=1)
    encoder = resource.load(tower_dir=Path("unused"))
    assert isinstance(encoder, ClipEncoder) and encoder.dimension == PROJECTION_DIM
    with pytest.raises(ValueError, match="Input should be 'local' or 'clip'"):   # the launchpad says the same
        EncoderResource(backend="nope")
