"""The weight tuning (models/hybrid_weights) on a built lake: signals scored once per candidate set
against scored inside every trial, alternated in one process, with the tuned weights compared.

    .venv/bin/python benchmarks/bench_tuning.py --lake data_lake --out benchmarks/results

Each coordinate-ascent trial re-ranks one prepared candidate set with other weights. The signals'
raw scores of the candidates do not depend on the weights, so ``tune_on_validation`` computes them
once (``recsys.recommend.pair_score_table``); "scored_every_trial" is the same tuning with that
table withheld, so every ``rerank`` scores the candidates again. Writes tuning.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

import recsys.evaluation.validation_tuning as validation_tuning
from recsys.evaluation.inputs import load_inputs

REPO = Path(__file__).resolve().parents[1]


def _tune(inputs, pair_score_table) -> dict:
    validation_tuning.pair_score_table = pair_score_table
    started = time.perf_counter()
    tuned = validation_tuning.tune_on_validation(inputs)
    return {"seconds": round(time.perf_counter() - started, 1), "parts": tuned.seconds,
            "weights": {"user": tuned.user.weights, "similar": tuned.similar.weights,
                        "fusion_image": tuned.fusion.image_weight},
            "validation": [tuned.user.best, tuned.similar.best, tuned.fusion.best]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=Path(os.getenv("RECSYS_LAKE_DIR", str(REPO / "data_lake"))))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--rounds", type=int, default=2, help="times each variant runs, alternating")
    parser.add_argument("--max-users", type=int, default=10_000, help="as TuningConfig.max_users")
    args = parser.parse_args()
    lake = args.lake

    def read(path: str) -> pl.DataFrame:
        return pl.read_parquet(lake / path)

    inputs = load_inputs(read("gold/products.parquet"), read("features/item_embeddings.parquet"),
                         read("features/interaction_split.parquet"), ["train"], lake / "models" / "als",
                         lake / "models" / "two_tower", read("features/item_tower_vectors.parquet"),
                         max_users=args.max_users, seed=0)
    variants = {"scored_every_trial": lambda *_, **__: None, "scored_once": validation_tuning.pair_score_table}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, table in variants.items():
            runs[name].append(_tune(inputs, table))
            print(name, runs[name][-1], flush=True)
    first = runs["scored_every_trial"][0]
    identical = all(run["weights"] == first["weights"] and run["validation"] == first["validation"]
                    for variant in runs.values() for run in variant)

    def search_seconds(run: dict) -> float:
        return run["parts"]["user_weights"] + run["parts"]["similar_weights"]

    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "lake": str(lake),
              "users": inputs.history.n_users, "products": len(inputs.product_ids),
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()]},
              "runs": runs, "identical_results": identical,
              "weight_search_speedup": [round(search_seconds(a) / search_seconds(b), 2)
                                        for a, b in zip(runs["scored_every_trial"], runs["scored_once"])],
              "total_speedup": [round(a["seconds"] / b["seconds"], 2)
                                for a, b in zip(runs["scored_every_trial"], runs["scored_once"])]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tuning.json").write_text(json.dumps(report, indent=2))
    print("identical results:", identical, "weight search speed-up:", report["weight_search_speedup"],
          "whole tuning:", report["total_speedup"])


if __name__ == "__main__":
    main()
