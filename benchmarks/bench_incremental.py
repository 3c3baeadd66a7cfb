"""Nightly incremental build vs full build, on the same lake in the same run.

1. A fresh lake gets a copy of the raw sample (``data_lake/raw`` by default) and ``build_all`` runs
   on it from nothing: the full build (every model trained, every vector encoded, every list built).
2. ``--fraction`` of the Myntra styles change (a third new, a third with a new name, a third
   removed: ``recsys.synthetic.catalog_edits``), as a nightly feed update would.
3. ``build_all`` runs again: the incremental build (models pinned by the retrain policy, only new
   and changed content encoded, only affected lists recomputed).

Both builds are the real job (``dagster job execute``, multiprocess executor) in child processes,
timed wall-clock from the outside. Per stage, seconds and what the stage did come from
gold/builds. Goal (issue 10): incremental <= 10% of the full build's wall time.

    python benchmarks/bench_incremental.py                      # the embedded sample, 1% change
    python benchmarks/bench_incremental.py --raw /path/to/raw --fraction 0.01 --work-dir /data/bench

Writes benchmarks/results/incremental.json and incremental.png.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GOAL = 0.10


def run_build(lake: Path, home: Path, log: Path) -> float:
    """``build_all`` on ``lake`` as a user runs it; returns wall seconds (raises if the run fails)."""
    env = {**os.environ, "RECSYS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call([sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions",
                                "-j", "build_all"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"build_all failed (exit {code}); see {log}")
    return seconds


def _stages(lake: Path) -> list[dict]:
    import polars as pl

    builds = pl.read_parquet(lake / "gold" / "builds.parquet").sort("started_at")
    return [builds.row(i, named=True) for i in range(builds.height)]


def _plot(full: dict, incremental: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(set(full) | set(incremental), key=lambda s: -full.get(s, 0))
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(names) + 1.5))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [full.get(n, 0) for n in names], height=0.4, label="full build")
    ax.barh([i - 0.2 for i in y], [incremental.get(n, 0) for n in names], height=0.4, label="incremental")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (step time)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    from recsys.synthetic.catalog_edits import change_styles, fraction_counts, style_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, default=REPO / "data_lake" / "raw")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of the Myntra styles changed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the lake is built (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "incremental.json")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_incremental_"))
    lake, home = work / "lake", work / "dagster_home"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(args.raw, lake / "raw")
    home.mkdir(parents=True, exist_ok=True)

    print(f"full build on {lake} ...", flush=True)
    full_s = run_build(lake, home, work / "full.log")
    counts = fraction_counts(style_rows(lake), args.fraction)
    edit = change_styles(lake, **counts)
    print(f"full build {full_s:.0f}s; changed the catalog {counts}; incremental build ...", flush=True)
    incremental_s = run_build(lake, home, work / "incremental.log")

    first, second = _stages(lake)[-2:]
    full_stages = {s["stage"]: s["seconds"] for s in first["stages"]}
    incremental_stages = {s["stage"]: s["seconds"] for s in second["stages"]}
    ratio = incremental_s / full_s
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "raw": str(args.raw), "fraction": args.fraction, "edit": {k: len(v) for k, v in vars(edit).items()},
        "products": first["products"], "users": first["users"],
        "full_build_s": round(full_s, 1), "incremental_build_s": round(incremental_s, 1),
        "incremental_over_full": round(ratio, 4), "goal": GOAL, "meets_goal": ratio <= GOAL,
        "stages_full_s": full_stages, "stages_incremental_s": incremental_stages,
        "outcomes_incremental": {s["stage"]: s["outcome"] for s in second["stages"] if s["outcome"]},
        "recomputed_tables": second["recomputed"], "reused_tables": second["reused"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _plot(full_stages, incremental_stages, args.out.with_suffix(".png"))
    print(json.dumps({k: result[k] for k in ("full_build_s", "incremental_build_s", "incremental_over_full",
                                             "meets_goal")}, indent=2))


if __name__ == "__main__":
    main()
