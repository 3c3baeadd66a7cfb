"""Embedding throughput: our pipeline against the bare model doing the same work, in the same run.

    .venv/bin/python benchmarks/bench_embeddings.py --out benchmarks/results
    .venv/bin/python benchmarks/bench_embeddings.py --images 256 --texts 1000 --repeats 2 --threads 2 --lake /tmp/lake

Part 1, CLIP images (issue 6 goal: pipeline >= 85% of the bare forward pass). A ViT-B/32 CLIP
(``CLIPConfig()`` defaults, random weights: the same cost as the real ones) saved to a temp folder
and loaded by ``ClipEncoder``:
- ``bare``: ``get_image_features`` on tensors decoded and preprocessed beforehand, same batch size;
- ``pipeline``: ``ClipEncoder.encode_images(paths)``: JPEG decode + CLIP preprocessing on a worker
  thread overlapped with the forward pass, normalization, NaN rows for failures.
Part 2, local image tower: ``LocalEncoder.encode_images`` against the bare tower on pre-decoded
thumbnails (a tower trained for one epoch on the benchmark images; its cost does not depend on
its weights).
Part 3, MiniLM texts (product texts of the catalog): ``MiniLMTextEncoder.encode`` (default
precision: bfloat16 autocast where the CPU has it; and forced float32) against
sentence-transformers' ``SentenceTransformer.encode`` (float32) on the same model and texts.

Repeats are interleaved and the best of each is kept (the machine is shared with other work;
the best run is the least disturbed one); CPU seconds are reported beside wall seconds.
Writes embeddings.json and embeddings.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import torch

from recsys.embeddings import ClipEncoder, LocalEncoder, MiniLMTextEncoder, TowerParams, TowerTrainingParams, product_texts
from recsys.embeddings.clip_random import save_random_clip
from recsys.embeddings.contrastive import train_image_tower
from recsys.embeddings.image_preprocess import tower_thumbnail

REPO = Path(__file__).resolve().parents[1]
PROTOTYPE_IMAGES_PER_SECOND = 6.5  # the original prototype's CLIP image embedding rate on a CPU (6-7/s)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def best_of(repeats: int, runs: dict) -> dict:
    """Run every contender once per repeat, interleaved; keep each one's fastest wall time."""
    best: dict[str, dict] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            _, wall, cpu = timed(fn)
            if name not in best or wall < best[name]["wall_seconds"]:
                best[name] = {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}
    return best


def image_paths(args) -> list[Path]:
    folder = Path(args.images_dir)
    paths = sorted(folder.rglob("*.jpg"))[: args.images]
    if len(paths) < args.images:
        raise SystemExit(f"only {len(paths)} images under {folder}")
    return paths


def bench_clip(args, paths: list[Path]) -> dict:
    folder = save_random_clip(Path(tempfile.mkdtemp()) / "clip-vit-b32-random")
    encoder = ClipEncoder(str(folder), image_batch_size=args.batch_size, decode_workers=1)
    model = encoder.model
    predecoded = [torch.from_numpy(np.stack([encoder.load_image(p) for p in paths[i:i + args.batch_size]]))
                  for i in range(0, len(paths), args.batch_size)]

    @torch.inference_mode()
    def bare():
        for batch in predecoded:
            model.get_image_features(pixel_values=batch)

    encoder.encode_images(paths[: args.batch_size])  # warm-up (oneDNN primitives, allocator)
    bare()
    best = best_of(args.repeats, {"bare": bare, "pipeline": lambda: encoder.encode_images(paths)})
    check = encoder.encode_images(paths[:8])
    return summarize("clip_vit_b32_images", best, len(paths), {
        "batch_size": args.batch_size, "decode_wait_seconds": round(check.decode_wait_seconds, 3),
        "prototype_images_per_second": PROTOTYPE_IMAGES_PER_SECOND})


def bench_tower(args, paths: list[Path]) -> dict:
    config = TowerParams()
    thumbs = np.stack([tower_thumbnail(p, config.input_height, config.input_width) for p in paths])
    texts = np.random.default_rng(0).standard_normal((len(paths), config.embed_dim)).astype(np.float32)
    fit = train_image_tower(thumbs, texts / np.linalg.norm(texts, axis=1, keepdims=True), config,
                            TowerTrainingParams(epochs=1, batch_size=64), threads=args.threads)
    folder = Path(tempfile.mkdtemp()) / "tower"
    fit.tower.save_pretrained(folder)
    # Batches of --batch-size, so that decoding (worker thread) can overlap the forward pass.
    encoder = LocalEncoder(folder, image_batch_size=args.batch_size, decode_workers=1, text_encoder=args.minilm)
    tower = encoder.tower

    @torch.inference_mode()
    def bare():
        for i in range(0, len(thumbs), args.batch_size):
            tower.embed(torch.from_numpy(thumbs[i:i + args.batch_size]))

    bare()
    best = best_of(args.repeats, {"bare": bare, "pipeline": lambda: encoder.encode_images(paths)})
    check = encoder.encode_images(paths)
    return summarize("local_tower_images", best, len(paths), {
        "batch_size": args.batch_size, "decode_wait_seconds": round(check.decode_wait_seconds, 3)})


def bench_minilm(args) -> dict:
    from sentence_transformers import SentenceTransformer

    products = pl.read_parquet(Path(args.lake) / "silver" / "products.parquet")
    sample = products.sample(min(args.texts, products.height), seed=0)
    texts = product_texts(sample)["text"].to_list()
    ours = args.minilm
    exact = MiniLMTextEncoder(batch_size=ours.batch_size, precision="fp32")
    library = SentenceTransformer(str(ours.model_dir), device="cpu")
    ours.encode(texts[:64])
    exact.encode(texts[:64])
    library.encode(texts[:64], batch_size=ours.batch_size)
    best = best_of(args.repeats, {
        "bare": lambda: library.encode(texts, batch_size=ours.batch_size, normalize_embeddings=True),
        "pipeline": lambda: ours.encode(texts),
        "pipeline_fp32": lambda: exact.encode(texts)})
    agreement = float(np.min((ours.encode(texts[:200]) * library.encode(texts[:200], normalize_embeddings=True)).sum(1)))
    return summarize("minilm_texts", best, len(texts), {
        "batch_size": ours.batch_size, "bare_is": "sentence-transformers SentenceTransformer.encode",
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1), "min_cosine_vs_library": round(agreement, 6)})


def summarize(name: str, best: dict, items: int, extra: dict) -> dict:
    rates = {k: round(items / v["wall_seconds"], 2) for k, v in best.items()}
    cpu_rates = {k: round(items / v["cpu_seconds"], 2) for k, v in best.items()}
    return {"name": name, "items": items, "items_per_second": rates, "items_per_cpu_second": cpu_rates,
            "pipeline_vs_bare": round(rates["pipeline"] / rates["bare"], 3),
            "pipeline_vs_bare_cpu": round(cpu_rates["pipeline"] / cpu_rates["bare"], 3),
            "best_runs": best, **extra}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2))
    for ax, result in zip(np.atleast_1d(axes), results):
        rates = result["items_per_second"]
        ax.bar(list(rates), list(rates.values()), color=["tab:gray", "tab:blue", "tab:cyan"][: len(rates)])
        ax.set_title(f"{result['name']}\npipeline = {result['pipeline_vs_bare']:.0%} of bare", fontsize=9)
        ax.set_ylabel("items / s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images-dir", default=str(REPO / "data_lake" / "raw" / "myntra" / "images"))
    parser.add_argument("--lake", default=os.getenv("RECSYS_LAKE_DIR", str(REPO / "data_lake")),
                        help="lake with silver/products.parquet (for the MiniLM texts)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the encoder resource default is 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", nargs="+", default=["clip", "tower", "minilm"])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    args.minilm = MiniLMTextEncoder(batch_size=128)
    paths = image_paths(args)
    results = []
    load_before = os.getloadavg()
    if "clip" in args.parts:
        results.append(bench_clip(args, paths))
    if "tower" in args.parts:
        results.append(bench_tower(args, paths))
    if "minilm" in args.parts:
        results.append(bench_minilm(args))
    report = {
        "benchmark": "embeddings", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch_threads": args.threads, "torch": torch.__version__,
                    "load_average_before": load_before, "load_average_after": os.getloadavg(),
                    "note": "shared machine: other engineers' jobs ran during the benchmark"},
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "embeddings.json").write_text(json.dumps(report, indent=2))
    plot(results, out / "embeddings.png")
    for r in results:
        print(f"{r['name']}: {r['items_per_second']} items/s, pipeline/bare {r['pipeline_vs_bare']:.2f} "
              f"(cpu {r['pipeline_vs_bare_cpu']:.2f})")


if __name__ == "__main__":
    main()
