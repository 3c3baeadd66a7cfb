"""The embedding stage in one process vs catalog shards in parallel runs, on the same lake in one run.

1. ``features/item_embeddings`` from nothing, in one process (the nightly job's step).
2. The ``embed_shards`` path: the catalog shards as ``--lanes`` runs of a range of shards each, side
   by side (what a backfill of every shard becomes: ``SHARDS_PER_RUN`` shards per run, two runs at
   a time), then ``features/item_embeddings``, which reuses every shard vector.
Both are the real CLI (``dagster asset materialize``, ``dagster job execute -j embed_shards`` with a
partition range), one process per run, timed from outside;
the encoder keeps its defaults (one torch thread per process). Before each path the lake's
embedding outputs are removed, so each encodes everything. The tables of both are compared
(per-row cosine of the vectors). Issue 11's goal: the sharded path faster than one process.

The lake must already have silver/products, images/manifest and models/image_tower (a lake after
``make build``, or ``RECSYS_LAKE_DIR=... dagster asset materialize --select '+models/image_tower'``).
It modifies that lake's features/: use a scratch copy.

    python benchmarks/bench_embedding_shards.py --lake /tmp/scratch_lake

Writes benchmarks/results/embedding_shards.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from assets.embedding_shards import SHARD_COUNT  # noqa: E402
from recsys.embeddings.shards import shard_names  # noqa: E402


def materialize(lake: Path, selection: str) -> float:
    """One run of ``selection`` in its own process and instance; wall seconds (raises if it fails)."""
    return _cli(lake, ["asset", "materialize", "-m", "pipelines.definitions", "--select", selection])


def embed_shard_range(lake: Path, first: str, last: str) -> float:
    """One embed_shards run over shards ``first``..``last``; wall seconds."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return _cli(lake, ["job", "execute", "-m", "pipelines.definitions", "-j", "embed_shards", "--tags", json.dumps(tags)])


def _cli(lake: Path, arguments: list[str]) -> float:
    home = Path(tempfile.mkdtemp(prefix="bench_shards_home_"))
    command = [sys.executable, "-m", "dagster", *arguments]
    env = {**os.environ, "RECSYS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(home, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed:\n{done.stderr[-3000:]}")
    return seconds


def forget_embeddings(lake: Path) -> None:
    (lake / "features" / "item_embeddings.parquet").unlink(missing_ok=True)
    shutil.rmtree(lake / "features" / "item_embedding_shards", ignore_errors=True)


def agreement(a, b) -> float:
    """The smallest per-row cosine between two item_embeddings tables' fused vectors."""
    from recsys.vectors import vector_matrix

    assert a["product_id"].to_list() == b["product_id"].to_list()
    return float((vector_matrix(a["fused_vector"]) * vector_matrix(b["fused_vector"])).sum(axis=1).min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="a scratch lake with products, manifest and tower")
    parser.add_argument("--lanes", type=int, default=os.cpu_count() or 1, help="shard runs side by side")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "embedding_shards.json")
    args = parser.parse_args()
    import polars as pl

    lake = args.lake.resolve()
    forget_embeddings(lake)
    print("one process: features/item_embeddings ...", flush=True)
    single = materialize(lake, "features/item_embeddings")
    single_table = pl.read_parquet(lake / "features" / "item_embeddings.parquet")

    forget_embeddings(lake)
    names = shard_names(SHARD_COUNT)
    ranges = [(str(part[0]), str(part[-1])) for part in np.array_split(np.array(names), args.lanes) if len(part)]
    print(f"shards: {SHARD_COUNT} shards in {len(ranges)} runs side by side {ranges} ...", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(len(ranges)) as pool:
        shard_seconds = list(pool.map(lambda r: embed_shard_range(lake, *r), ranges))
    shards_wall = time.perf_counter() - started
    assemble = materialize(lake, "features/item_embeddings")
    sharded = shards_wall + assemble
    sharded_table = pl.read_parquet(lake / "features" / "item_embeddings.parquet")

    report = {
        "benchmark": "embedding_shards",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "products": single_table.height, "shards": SHARD_COUNT, "runs_side_by_side": len(ranges),
        "one_process_s": round(single, 1),
        "sharded_s": round(sharded, 1),
        "shard_runs_wall_s": round(shards_wall, 1), "assemble_s": round(assemble, 1),
        "shard_runs": [{"shards": f"{first}..{last}", "seconds": round(s, 1)}
                       for (first, last), s in zip(ranges, shard_seconds)],
        "speedup": round(single / sharded, 2),
        "min_fused_cosine_between_paths": round(agreement(single_table, sharded_table), 5),
        "goal": "sharded path faster than one process (speedup > 1)",
    }
    report["meets_goal"] = report["speedup"] > 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("one_process_s", "sharded_s", "speedup", "meets_goal")}, indent=2))


if __name__ == "__main__":
    main()
