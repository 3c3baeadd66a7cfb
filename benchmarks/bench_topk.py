"""All-products exact top-K vs the machine's float32 matmul rate, and HNSW vs exact search.

    .venv/bin/python benchmarks/bench_topk.py --lake data_lake --out benchmarks/results
    .venv/bin/python benchmarks/bench_topk.py --random 58396 --dim 384      # without built embeddings

Part 1 (issue 8 goal: pipeline >= 80% of the matmul rate). For n item vectors of dimension d,
the similar-items candidate stage scores n x n pairs: 2 n^2 d flops. In the same run, repeats
interleaved (the machine is shared):
- ``matmul``: numpy float32 sgemm over every 4096 x 4096 tile of the n x n product into one
  reused buffer, nothing else: the rate this machine multiplies at (the reference);
- ``faiss_knn``: FAISS's exact inner-product k-NN alone (BLAS + per-query heaps);
- ``pipeline``: ``recsys.topk.exact_search`` + ``blocked_topk`` (distinct vectors scored once,
  blocks, self exclusion, tie settling, rank order) + the similar-items table (product ids,
  ranks, scores) + a zstd Parquet write. Effective rate counts the n x n work it stands for, so
  it can exceed the reference when the catalog repeats vectors.
Rates are effective GFLOP/s = 2 n^2 d / seconds; wall and CPU seconds are both reported (CPU
seconds count every thread, so the CPU-cost ratio moves less with other people's load). Ratios
are medians over repeats of same-repeat ratios: a repeat's three runs share that moment's load.

Part 2 (goal: recall@10 >= 0.95 at a query rate >= exact). ``ItemIndex`` forced to HNSW: build
time, efSearch tuned to the recall target, recall@10 vs exact on a sample (own item left out),
and the query rate for every item as a query (k = 11) against exact flat search of the same.
Recall is tie-aware (an answer scoring at least the exact 10th score is a hit: catalogs hold
exact duplicates); plain id overlap and the share of queries with an exact duplicate are beside it.
Writes topk.json and topk.png.
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

import faiss
import numpy as np
import polars as pl

from recsys import storage
from recsys.index import IndexSettings, ItemIndex, VectorSpec, recall_at_k, tie_aware_recall
from recsys.topk import Exclusions, blocked_topk, exact_search
from recsys.vectors import vector_matrix

REPO = Path(__file__).resolve().parents[1]


def load_vectors(args) -> tuple[list[str], np.ndarray, str]:
    if args.random:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.random, args.dim)).astype(np.float32)
        return [f"random:{i}" for i in range(args.random)], x / np.linalg.norm(x, axis=1, keepdims=True), \
            f"random unit vectors (seed 0), d={args.dim}"
    path = Path(args.lake) / "features" / "item_embeddings.parquet"
    frame = pl.read_parquet(path, columns=["product_id", args.column, "encoder", "encoder_version"])
    vectors = vector_matrix(frame[args.column])
    return frame["product_id"].to_list(), np.ascontiguousarray(vectors), \
        f"{path} ({args.column}, {frame['encoder'][0]} {frame['encoder_version'][0]})"


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_matmul(x: np.ndarray, tile: int) -> None:
    """Every (query tile x item tile) product into one reused output buffer: the sgemm rate with no
    selection, allocation or memory traffic beyond what the multiplication needs."""
    out = np.empty((tile, tile), dtype=np.float32)
    for q in range(0, len(x), tile):
        queries = x[q:q + tile]
        for i in range(0, len(x), tile):
            items = x[i:i + tile]
            np.matmul(queries, items.T, out=out[:len(queries), :len(items)])


def run_pipeline(ids: np.ndarray, x: np.ndarray, k: int, block: int, out: Path) -> None:
    top = blocked_topk(x, k, exact_search(x), Exclusions.own_position(len(x)), block_rows=block)
    valid = top.positions >= 0
    query, column = np.nonzero(valid)
    table = pl.DataFrame({"product_id": ids[query], "rank": (column + 1).astype(np.int32),
                          "similar_product_id": ids[top.positions[valid]], "score": top.scores[valid]})
    storage.write_parquet_atomic(table, out)


def part_exact(ids: list[str], x: np.ndarray, args) -> dict:
    n, d = x.shape
    flops = 2.0 * n * n * d
    id_array = np.array(ids, dtype=object)
    runs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {
            "matmul": lambda: run_matmul(x, args.matmul_tile),
            "faiss_knn": lambda: faiss.knn(x, x, args.k + 1, metric=faiss.METRIC_INNER_PRODUCT),
            "pipeline": lambda: run_pipeline(id_array, x, args.k, args.block, Path(tmp) / "similar.parquet"),
        }
        for repeat in range(args.repeats):
            for name, fn in contenders.items():
                wall, cpu = timed(fn)
                print(f"repeat {repeat}: {name:10s} wall {wall:7.2f}s cpu {cpu:7.2f}s  {flops / wall / 1e9:6.1f} GFLOP/s")
                runs.setdefault(name, []).append((wall, cpu))

    def median_ratio(name: str, column: int) -> float:
        # Each repeat runs the three back to back, so a repeat's ratio shares that moment's load.
        return round(float(np.median([m[column] / c[column] for m, c in zip(runs["matmul"], runs[name])])), 3)

    rates = {name: {"wall_seconds_median": round(float(np.median([w for w, _ in r])), 3),
                    "cpu_seconds_median": round(float(np.median([c for _, c in r])), 3),
                    "gflops_wall_median": round(flops / np.median([w for w, _ in r]) / 1e9, 1),
                    "gflops_per_cpu_second_median": round(flops / np.median([c for _, c in r]) / 1e9, 1),
                    "runs": [{"wall": round(w, 3), "cpu": round(c, 3)} for w, c in r]} for name, r in runs.items()}
    search = exact_search(x)
    return {
        "items": n, "distinct_vectors": getattr(search, "n_distinct", n), "dim": d, "k": args.k,
        "block_rows": args.block, "matmul_tile": args.matmul_tile, "flops": flops, "rates": rates,
        "pipeline_vs_matmul_wall": median_ratio("pipeline", 0),
        "pipeline_vs_matmul_cpu": median_ratio("pipeline", 1),
        "faiss_vs_matmul_wall": median_ratio("faiss_knn", 0),
        "faiss_vs_matmul_cpu": median_ratio("faiss_knn", 1),
        "ratios": "median over repeats of (matmul seconds / contender seconds) in the same repeat",
        "goal": "pipeline >= 0.80 of the matmul rate",
    }


def part_ann(ids: list[str], x: np.ndarray, args) -> dict:
    spec = VectorSpec("benchmark", "1", args.column, x.shape[1])
    config = IndexSettings(exact_max_items=0, recall_queries=args.recall_queries, target_recall=args.target_recall)
    started = time.perf_counter()
    hnsw = ItemIndex.build(ids, x, spec, config)
    build_seconds = time.perf_counter() - started
    flat = ItemIndex.build(ids, x, spec, IndexSettings(exact_max_items=len(x)))
    sample = np.sort(np.random.default_rng(1).choice(len(x), size=min(args.recall_queries, len(x)), replace=False))
    results = {}
    for name, index in (("exact", flat), ("hnsw", hnsw)):
        best = np.inf
        for _ in range(args.repeats):
            wall, _ = timed(lambda: index.search(x, args.recall_k + 1))
            best = min(best, wall)
        results[name] = {"seconds_all_queries": round(best, 3), "queries_per_second": round(len(x) / best, 1)}
    _, truth = flat.search(x[sample], args.recall_k + 1)
    _, found = hnsw.search(x[sample], args.recall_k + 1)

    def drop_self(positions):
        return np.array([[p for p in row if p != own][:args.recall_k] for row, own in zip(positions, sample)])


    found, truth = drop_self(found), drop_self(truth)
    return {
        "items": len(x), "build_seconds": round(build_seconds, 2), "hnsw": hnsw.manifest.hnsw,
        "recall_curve": [p.__dict__ for p in hnsw.manifest.recall_curve],
        "recall_at_10_independent_sample": round(tie_aware_recall(found, truth, x[sample], x), 4),
        "recall_at_10_id_overlap": round(recall_at_k(found, truth), 4),
        "exact_duplicate_share": round(float(np.mean(np.abs(np.einsum("qd,qd->q", x[sample], x[truth[:, 0]]) - 1)
                                                      < 1e-5)), 4),
        "query": results,
        "hnsw_vs_exact_query_rate": round(results["hnsw"]["queries_per_second"] / results["exact"]["queries_per_second"], 2),
        "goal": f"recall@{args.recall_k} >= {args.target_recall} at a query rate >= exact",
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rates = report["exact_topk"]["rates"]
    names = list(rates)
    left.bar(names, [rates[n]["gflops_per_cpu_second_median"] for n in names], color=["grey", "tab:blue", "tab:green"])
    left.set_ylabel("effective GFLOP per CPU-second (median)")
    left.set_title(f"all-products top-{report['exact_topk']['k']}, n={report['exact_topk']['items']:,}")
    curve = report["ann"]["recall_curve"]
    right.plot([p["queries_per_second"] for p in curve], [p["recall"] for p in curve], "o-", label="HNSW (efSearch steps)")
    right.axvline(report["ann"]["query"]["exact"]["queries_per_second"], color="grey", ls="--", label="exact query rate")
    right.axhline(0.95, color="red", ls=":", label="recall 0.95")
    right.set_xlabel("queries/s (sample)")
    right.set_ylabel("recall@10 vs exact")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", default=os.getenv("RECSYS_LAKE_DIR", str(REPO / "data_lake")))
    parser.add_argument("--column", default="fused_vector")
    parser.add_argument("--random", type=int, default=0, help="use N random unit vectors instead of the lake's")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--block", type=int, default=16_384)
    parser.add_argument("--matmul-tile", type=int, default=4096, help="tile side of the matmul reference")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--recall-k", type=int, default=10)
    parser.add_argument("--recall-queries", type=int, default=2_000)
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ids, x, source = load_vectors(args)
    print(f"vectors: {source}: {x.shape}")
    report = {
        "benchmark": "topk", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "faiss": faiss.__version__,
                    "numpy": np.__version__, "faiss_threads": faiss.omp_get_max_threads()},
        "vectors": source,
        "exact_topk": part_exact(ids, x, args),
        "ann": part_ann(ids, x, args),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "topk.json").write_text(json.dumps(report, indent=2))
    plot(report, args.out / "topk.png")
    print(json.dumps({k: report[k] for k in ("exact_topk", "ann")}, indent=2))


if __name__ == "__main__":
    main()
