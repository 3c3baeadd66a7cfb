"""The ALS stage against a bare ``implicit`` fit of the same matrix (goal: stage <= 1.15x bare).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_als.py --scales sample benchmark

For each scale the persona simulator builds interactions over the catalog (silver/products of
``--lake`` if built, else the committed sample ingested in memory) and the time split. Then, in
the same process, repeats interleaved (the machine is shared), best of each:
- ``bare``: ``implicit.cpu.als.AlternatingLeastSquares(...).fit`` on the confidence matrix,
  built beforehand, under ``threadpool_limits(1, "blas")``: the library alone;
- ``fit``: ``ALSRecommender.fit`` on the same training pairs (confidence matrix, ids, BLAS
  limits, per-iteration callback): the wrapper's own overhead;
- ``stage``: what the models/als asset runs with the stage's defaults:
  ``recsys.models.stages.train_als`` on the split table (matrix from events, fit, validation
  probe at the end, the popularity baseline on the same probe) plus ``save_pretrained``
  (Parquet factors, atomic swap);
- ``stage_curve``: the same with a validation curve point every ``--curve-every`` iterations.
The order of the four rotates between repeats. The headline is the median of the per-repeat
ratios to ``bare`` (neighbours in time share the machine's load); ratios of the best wall
times and CPU seconds beside them, and the 1-minute load average around every repeat.
Writes als.json and als.png to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from recsys.catalog import ingest_catalogs  # noqa: E402
from recsys.interactions import SimulatorSettings, SplitSettings, simulate, split_interactions  # noqa: E402
from recsys.models.als import ALSParams, ALSRecommender, confidence_matrix  # noqa: E402
from recsys.models.matrix import Interactions  # noqa: E402
from recsys.models.stages import ProbeSettings, split_part, train_als  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_products(lake: Path) -> tuple[pl.DataFrame, str]:
    path = lake / "silver" / "products.parquet"
    if path.exists():
        return pl.read_parquet(path), str(path)
    return ingest_catalogs(REPO / "data_lake" / "raw").products, "data_lake/raw ingested in memory"


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_fit(matrix, params: ALSParams) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization, alpha=1.0,
                                        iterations=params.iterations, use_cg=params.use_cg,
                                        num_threads=params.num_threads, random_state=params.seed)
        model.fit(matrix, show_progress=False)


def stage_run(split: pl.DataFrame, params: ALSParams, curve_every: int, folder: Path) -> dict:
    stage = train_als(split, params, ProbeSettings(), curve_every=curve_every)
    stage.model.save_pretrained(folder)
    return {"validation": stage.validation, "popularity_validation": stage.popularity_validation}


def bench_scale(name: str, products: pl.DataFrame, args) -> dict:
    config = SimulatorSettings.benchmark() if name == "benchmark" else SimulatorSettings.sample()
    started = time.perf_counter()
    events = simulate(products, config).events
    split = split_interactions(events, SplitSettings()).frame
    prepared = time.perf_counter() - started
    params = ALSParams(factors=args.factors, iterations=args.iterations, num_threads=args.threads)
    train = Interactions.from_events(split_part(split, "train"))
    matrix = confidence_matrix(train, params.alpha)
    logging.info("%s: %d events, train %d users x %d items, %d pairs (prepared in %.1fs)", name, events.height,
                 train.n_users, train.n_items, train.nnz, prepared)
    tasks = {
        "bare": lambda: bare_fit(matrix, params),
        "fit": lambda: ALSRecommender(params).fit(train),
        "stage": lambda: quality.update(stage_run(split, params, 0, Path(tmp) / "als")),
        "stage_curve": lambda: stage_run(split, params, args.curve_every, Path(tmp) / "als"),
    }
    runs: dict[str, list[tuple[float, float]]] = {task: [] for task in tasks}
    quality: dict = {}
    load: list[float] = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        order = list(tasks)
        for repeat in range(args.repeats):
            for task in order[repeat % len(order):] + order[:repeat % len(order)]:
                runs[task].append(timed(tasks[task]))
            load.append(os.getloadavg()[0])
            logging.info("%s repeat %d (load %.2f): %s", name, repeat + 1, load[-1],
                         {k: round(v[-1][0], 3) for k, v in runs.items()})
    best = {k: min(w for w, _ in v) for k, v in runs.items()}
    paired = {k: statistics.median(w / b for (w, _), (b, _) in zip(v, runs["bare"])) for k, v in runs.items()}
    cpu = {k: min(c for _, c in v) for k, v in runs.items()}
    return {
        "scale": name, "users": train.n_users, "items": train.n_items, "train_pairs": train.nnz,
        "events": events.height, "params": asdict(params), "curve_every": args.curve_every, "repeats": args.repeats,
        "load_average_1min": {"min": min(load), "median": round(statistics.median(load), 2), "max": max(load),
                              "around_repeats": load},
        "wall_seconds_best": {k: round(v, 3) for k, v in best.items()},
        "wall_seconds_median": {k: round(statistics.median(w for w, _ in v), 3) for k, v in runs.items()},
        "cpu_seconds_best": {k: round(v, 3) for k, v in cpu.items()},
        "ratio_to_bare_median_paired": {k: round(v, 3) for k, v in paired.items() if k != "bare"},
        "ratio_to_bare_per_repeat": {k: [round(w / b, 3) for (w, _), (b, _) in zip(v, runs["bare"])]
                                     for k, v in runs.items() if k != "bare"},
        "ratio_to_bare_best_wall": {k: round(v / best["bare"], 3) for k, v in best.items() if k != "bare"},
        "ratio_to_bare_best_cpu": {k: round(v / cpu["bare"], 3) for k, v in cpu.items() if k != "bare"},
        **quality,
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    names = ["bare", "fit", "stage", "stage_curve"]
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        values = [row["wall_seconds_best"][n] for n in names]
        label = f"{row['scale']} ({row['train_pairs']:,} pairs)"
        axis.bar(np.arange(len(names)) + i * width, values, width, label=label)
    axis.set_xticks(np.arange(len(names)) + width * (len(rows) - 1) / 2, names)
    axis.set_ylabel("wall seconds (best of repeats)")
    axis.set_title("ALS: pipeline stage vs bare implicit fit")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", nargs="+", default=["sample", "benchmark"], choices=["sample", "benchmark"])
    parser.add_argument("--lake", type=Path, default=REPO / "data_lake")
    parser.add_argument("--factors", type=int, default=ALSParams().factors)
    parser.add_argument("--iterations", type=int, default=ALSParams().iterations)
    parser.add_argument("--threads", type=int, default=0, help="implicit threads (0 = all cores)")
    parser.add_argument("--curve-every", type=int, default=5, help="curve interval of the stage_curve variant")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("recsys").setLevel(logging.WARNING)
    products, source = load_products(args.lake)
    rows = [bench_scale(name, products, args) for name in args.scales]
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "als", "created_at": datetime.now(timezone.utc).isoformat(), "catalog": source,
              "products": products.height, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                       "processor": platform.processor()},
              "note": "shared 2-core machine: the headline is ratio_to_bare_median_paired; best-of-repeats wall "
                      "times and CPU seconds beside it", "rows": rows}
    (args.out / "als.json").write_text(json.dumps(report, indent=2, default=str))
    plot(rows, args.out / "als.png")
    for row in rows:
        print(f"{row['scale']}: {row['train_pairs']:,} pairs, best wall {row['wall_seconds_best']}, ratios to bare: "
              f"median paired {row['ratio_to_bare_median_paired']}, best wall {row['ratio_to_bare_best_wall']}, "
              f"best cpu {row['ratio_to_bare_best_cpu']}; load {row['load_average_1min']['median']}")


if __name__ == "__main__":
    main()
