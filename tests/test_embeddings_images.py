"""Image preprocessing (Pillow/numpy) and the decode-ahead batch iterator."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from recsys.embeddings.image_preprocess import ClipImagePreprocessor, open_rgb, tower_thumbnail
from recsys.embeddings.prefetch import prefetch_batches


def _gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                             np.full((height, width, 1), 90, np.float32)], axis=2)
    return Image.fromarray(pixels.astype(np.uint8))


def test_tower_thumbnail_fills_the_portrait_frame(tmp_path):
    path = tmp_path / "shot.jpg"
    _gradient(225, 300).save(path, quality=95)
    thumb = tower_thumbnail(path, 64, 48)
    assert thumb.shape == (64, 48, 3) and thumb.dtype == np.uint8
    # Left edge dark red channel, right edge bright: the picture was resized, not cropped or padded.
    assert thumb[:, :3, 0].mean() < 30 and thumb[:, -3:, 0].mean() > 225


def test_transparency_is_flattened_on_white_and_grey_becomes_rgb(tmp_path):
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (10, 10, 30, 30))
    rgba.save(tmp_path / "t.png")
    image = np.asarray(open_rgb(tmp_path / "t.png"))
    assert tuple(image[0, 0]) == (255, 255, 255) and tuple(image[20, 20]) == (0, 0, 255)
    Image.new("L", (10, 10), 128).save(tmp_path / "g.png")
    assert tower_thumbnail(tmp_path / "g.png", 8, 6).shape == (8, 6, 3)


def test_exif_orientation_is_applied(tmp_path):
    wide = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    wide.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    assert open_rgb(tmp_path / "rot.jpg").size == (20, 40)


def test_broken_files_raise(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(Exception):
        tower_thumbnail(tmp_path / "bad.jpg", 8, 6)


@pytest.mark.parametrize("size", [(225, 300), (300, 225), (224, 224), (97, 413)])
def test_clip_preprocessor_matches_transformers(tmp_path, size):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image = _gradient(*size)
    ours = ClipImagePreprocessor().from_image(image)
    reference = CLIPImageProcessorPil()(image, return_tensors="np")["pixel_values"][0]
    assert ours.shape == reference.shape == (3, 224, 224)
    # Same Pillow bicubic resize, same crop arithmetic, same normalization: equal up to float rounding.
    assert np.abs(ours - reference).max() < 1e-5


def test_clip_preprocessor_reads_a_checkpoint_config(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(
        '{"size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 32}, '
        '"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}')
    pre = ClipImagePreprocessor.for_checkpoint(tmp_path, image_size=224)
    assert (pre.shortest_edge, pre.crop_size, pre.mean) == (40, 32, (0.5, 0.5, 0.5))
    white = pre.from_image(Image.new("RGB", (50, 80), (255, 255, 255)))
    assert white.shape == (3, 32, 32) and np.allclose(white, 1.0)
    assert ClipImagePreprocessor.for_checkpoint(tmp_path / "nothing", image_size=32).crop_size == 32


def test_prefetch_keeps_order_records_errors_and_covers_everything():
    def load(i: int) -> np.ndarray:
        if i % 7 == 3:
            raise ValueError(f"bad item {i}")
        return np.full(2, i)

    batches = list(prefetch_batches(list(range(50)), 8, load, workers=2))
    seen = np.concatenate([b.indices for b in batches])
    errors = {i: e for b in batches for i, e in b.errors.items()}
    assert sorted(seen.tolist() + list(errors)) == list(range(50))
    assert seen.tolist() == sorted(seen.tolist())
    assert all((b.arrays[:, 0] == b.indices).all() for b in batches if b.arrays is not None)
    assert errors[3] == "ValueError: bad item 3" and len(errors) == 7


def test_prefetch_decodes_ahead_on_another_thread():
    main = threading.get_ident()
    threads = set()

    def load(i: int) -> np.ndarray:
        threads.add(threading.get_ident())
        time.sleep(0.01)
        return np.zeros(1)

    batches = prefetch_batches(list(range(16)), 4, load, workers=1, depth=2)
    first = next(batches)
    time.sleep(0.1)  # while the consumer "computes", the next batch is already being decoded
    assert first.size == 4 and main not in threads
    assert sum(b.size for b in batches) == 12
