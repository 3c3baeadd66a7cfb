"""Scaling benchmark: synthetic lakes of growing size through build_all, stage by stage.

For each size, ``recsys.synthetic`` writes a raw lake (N products with images, M users' events),
then every step of ``build_all`` runs in topological order, each in a fresh child process that
executes that step's assets in-process (``job.execute_in_process(asset_selection=...)`` with
``RECSYS_LAKE_DIR`` pointing at the lake). Per step it records:

- ``compute_s``: Dagster's step time (STEP_START to STEP_SUCCESS/FAILURE in the event log);
- ``wall_s`` and ``cpu_s`` of the child process (imports included), and ``peak_rss_mb``, the
  child's maximum resident set (``os.wait4`` rusage): one step per process, so the peak is that
  step's, plus the import baseline measured on its own (``import_baseline``);
- the numeric metadata of its materializations (row counts, ...) and its asset checks.

Reference ("the raw library doing the same work" as a floor): polars reading every raw table and
Pillow decoding + resizing every image, on the same lake in the same run; ``ratio_to_floor``
compares the catalog, image and interaction steps with it.

Steps whose upstream failed are recorded as skipped. A failing blocking check does not stop later
steps here (each step is its own run): the benchmark measures cost; the check results are recorded.

``--nightly``: after a size's build, ``recsys.synthetic.nightly`` changes the lake as a night does (1%
of the products new, changed or removed; 1% more events, from the 2% of users active that day) and
every step runs again on the built lake, incrementally, recorded under the size's ``nightly``, with
the user lists' step time against the full build's (``user_lists.ratio``). ``--nightly-only`` does
that later on a size already measured whose lake was kept (``--keep-lakes``).

    python benchmarks/bench_scale.py --products 2000 5000 --users 2000 5000
    python benchmarks/bench_scale.py --products 10000 --users 100000 --append    # add a size to the results
    python benchmarks/bench_scale.py --products 100000 --users 1000000 --append --nightly --keep-lakes \
        --work-dir /data/scale --step-timeout 7200     # the build, then a nightly after a night's change
    python benchmarks/bench_scale.py --products 10000 50000 100000 --users 100000 1000000 1000000 \
        --work-dir /data/scale --step-timeout 7200

Writes benchmarks/results/scale.json and scale.png.
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

JOB = "build_all"
FLOOR_IMAGE_SIDE = 256            # the image cache normalizes to this longest side


# --- child process: one step ---------------------------------------------------------------------

def _step_nodes(job) -> dict[str, list]:
    """Step (node) name -> its asset keys, in topological order of the asset graph."""
    graph = job.asset_layer.asset_graph
    selected = job.asset_layer.selected_asset_keys
    steps: dict[str, list] = {}
    for key in graph.toposorted_asset_keys:
        if key in selected:
            steps.setdefault(graph.get(key).assets_def.node_def.name, []).append(key)
    return steps


def run_child_step(step: str, result_file: Path) -> None:
    """Run one step of build_all in this process and write what happened to ``result_file``."""
    import dagster as dg

    from pipelines.definitions import defs

    job = defs.resolve_job_def(JOB)
    if step == "__import__":          # the import baseline: load the code location, do nothing
        result_file.write_text(json.dumps({"status": "ok"}))
        return
    keys = _step_nodes(job)[step]
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(asset_selection=keys, instance=instance, raise_on_error=False)
    times: dict[str, float] = {}
    metadata: dict[str, float] = {}
    checks: dict[str, bool] = {}
    errors: list[str] = []
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            times[kind.value] = record.timestamp
        if kind == dg.DagsterEventType.STEP_FAILURE:
            errors.append(event.event_specific_data.error.to_string()[-2000:])
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            for name, value in materialization.metadata.items():
                # numbers, and the numbers of a JSON entry (a step's seconds by phase: "seconds.plan")
                inner = getattr(value, "value", None)
                numbers = {name: inner} if not isinstance(inner, dict) else {f"{name}.{k}": v for k, v in inner.items()}
                for label, number in numbers.items():
                    if isinstance(number, (int, float)) and not isinstance(number, bool):
                        metadata[f"{materialization.asset_key.to_user_string()}:{label}"] = number
        if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            checks[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"] = evaluation.passed
    end = times.get("STEP_SUCCESS", times.get("STEP_FAILURE"))
    result_file.write_text(json.dumps({
        "status": "ok" if result.success else "failed",
        "compute_s": end - times["STEP_START"] if end and "STEP_START" in times else None,
        "assets": [k.to_user_string() for k in keys],
        "metadata": metadata, "checks": checks, "error": errors[0] if errors else None,
    }))


# --- parent: lakes, steps, floor, plot ------------------------------------------------------------

def measure_child(step: str, lake: Path, log_file: Path, timeout_s: float) -> dict:
    """Run ``step`` in a child process; its own wall time, CPU time and peak RSS (wait4 rusage)."""
    env = {**os.environ, "RECSYS_LAKE_DIR": str(lake), "OPENBLAS_NUM_THREADS": "1"}
    env.pop("DAGSTER_HOME", None)
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        with open(log_file, "w") as log:
            started = time.perf_counter()
            child = subprocess.Popen([sys.executable, __file__, "--child-step", step, "--result", str(result_file)],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            timer = threading.Timer(timeout_s, child.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(child.pid, 0)
            except BaseException:       # interrupted: do not leave the step running on its own
                child.kill()
                child.wait()
                raise
            finally:
                timer.cancel()
            child.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - started
        outcome = json.loads(result_file.read_text()) if result_file.exists() else {
            "status": "timeout" if wall >= timeout_s else "crashed", "compute_s": None,
            "error": f"exit code {child.returncode}; see {log_file}"}
    return {**outcome, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "exit_code": child.returncode}


def clean_built(lake: Path) -> None:
    """Remove everything but raw/, so every step builds from scratch (no incremental reuse)."""
    for entry in lake.iterdir():
        if entry.name != "raw":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def floor_reference(raw: Path) -> dict[str, float]:
    """The raw libraries doing the bare work: polars reads every table, Pillow decodes every image."""
    import polars as pl
    from PIL import Image

    started = time.perf_counter()
    rows = 0
    for csv in sorted(raw.glob("asos/*.csv")) + sorted(raw.glob("myntra/*/*.csv")):
        rows += pl.read_csv(csv, infer_schema=False, truncate_ragged_lines=True).height
    catalog_s = time.perf_counter() - started
    started = time.perf_counter()
    events = sum(pl.read_parquet(p).height for p in sorted(raw.glob("events/*.parquet")))
    events += sum(pl.read_csv(p, infer_schema=False).height for p in sorted(raw.glob("events/*.csv")))
    events_s = time.perf_counter() - started
    started = time.perf_counter()
    images = 0
    for path in raw.rglob("*.jpg"):
        with Image.open(path) as image:
            image.convert("RGB").thumbnail((FLOOR_IMAGE_SIDE, FLOOR_IMAGE_SIDE))
        images += 1
    return {"catalog_read_s": catalog_s, "catalog_rows": rows, "events_read_s": events_s, "events": events,
            "image_decode_s": time.perf_counter() - started, "images": images}


FLOOR_OF_STEP = {"silver_catalog": "catalog_read_s", "images__manifest": "image_decode_s",
                 "silver__interactions": "events_read_s"}


def run_steps(lake: Path, steps: list[str], args: argparse.Namespace, label: str) -> list[dict]:
    """Run ``steps`` in order on ``lake``, each in its own child; a step whose upstream failed is skipped."""
    logs = args.work_dir / "logs"
    records: list[dict] = []
    failed: set[str] = set()
    upstream = _step_upstream()
    for step in steps:
        blocked = sorted(upstream[step] & failed)
        if blocked:
            records.append({"step": step, "status": "skipped", "error": f"upstream failed: {', '.join(blocked)}"})
            failed.add(step)
            continue
        record = {"step": step, **measure_child(step, lake, logs / f"{label}-{step}.log", args.step_timeout)}
        records.append(record)
        if record["status"] != "ok":
            failed.add(step)
        print(f"  {step:32s} {record['status']:8s} compute {record.get('compute_s') or 0:8.1f}s  "
              f"wall {record['wall_s']:7.1f}s  peak {record['peak_rss_mb']:7.0f} MB", flush=True)
    return records


def step_totals(records: list[dict]) -> dict:
    ok = [r for r in records if r["status"] == "ok"]
    return {"total_compute_s": sum(r["compute_s"] or 0 for r in ok),
            "max_step_peak_rss_mb": max((r["peak_rss_mb"] for r in ok), default=None),
            "all_steps_ok": len(ok) == len(records)}


USER_LISTS_STEP = "gold__user_recommendations"


def run_nightly(lake: Path, products: int, full_steps: list[dict], args: argparse.Namespace, steps: list[str]) -> dict:
    """A night's change on the built ``lake`` (``recsys.synthetic.nightly``), then every step again,
    incrementally (nothing is cleaned: pinned models, list states and caches are reused as a nightly
    build reuses them). The user lists' time is compared with the full build's (``full_steps``)."""
    from recsys.synthetic.nightly import nightly_change

    change = nightly_change(lake, products, catalog_share=args.nightly_catalog_share,
                            events_share=args.nightly_events_share, active_share=args.nightly_active_share,
                            seed=args.seed + 1)
    print(f"[{products} products] nightly change {change.to_json()}", flush=True)
    records = run_steps(lake, steps, args, f"{lake.name}-nightly")
    return nightly_report(change.to_json(), records, full_steps)


def nightly_report(change: dict, records: list[dict], full_steps: list[dict]) -> dict:
    """A nightly's record: the change, its steps and the user lists' time against the full build's."""
    report = {"change": change, "steps": records, **step_totals(records)}
    full = next((r for r in full_steps if r["step"] == USER_LISTS_STEP and r["status"] == "ok"), None)
    night = next((r for r in records if r["step"] == USER_LISTS_STEP and r["status"] == "ok"), None)
    if full and night:
        report["user_lists"] = {
            "full_compute_s": full["compute_s"], "nightly_compute_s": night["compute_s"],
            "ratio": night["compute_s"] / full["compute_s"],
            **{name.split(":", 1)[1]: value for name, value in night["metadata"].items()
               if name.startswith(("gold/user_recommendations:lists_", "gold/user_recommendations:seconds."))}}
    return report


def rerun_nightly(size: dict, lake: Path, args: argparse.Namespace, steps: list[str]) -> dict:
    """``steps`` of ``size``'s last nightly run again on its kept lake, without a new change (after a
    fix to a step that failed), their records replacing the old ones (marked ``rerun``)."""
    records = {r["step"]: {**r, "rerun": True} for r in run_steps(lake, steps, args, f"{lake.name}-nightly-rerun")}
    night = size["nightly"]
    merged = [records.get(r["step"], r) for r in night["steps"]]
    return {**size, "nightly": nightly_report(night["change"], merged, size["steps"])}


def run_size(products: int, users: int, args: argparse.Namespace, steps: list[str]) -> dict:
    from recsys.synthetic import SUMMARY_FILE, SyntheticLakeSettings, generate_lake

    lake = args.work_dir / f"lake-{products}-{users}"
    config = SyntheticLakeSettings(products=products, users=users, seed=args.seed,
                                 events_per_user=args.events_per_user, workers=args.workers)
    summary_file = lake / "raw" / SUMMARY_FILE
    reuse = args.reuse_lakes and summary_file.exists() and \
        json.loads(summary_file.read_text())["config"]["products"] == products and \
        json.loads(summary_file.read_text())["config"]["users"] == users
    if reuse:
        generated = json.loads(summary_file.read_text())
        print(f"[{products} products, {users} users] reusing {lake}", flush=True)
    else:
        print(f"[{products} products, {users} users] generating {lake}", flush=True)
        generated = generate_lake(lake, config, overwrite=True).to_json()
    clean_built(lake)
    baseline = measure_child("__import__", lake, args.work_dir / "logs" / f"{products}-{users}-import.log",
                             args.step_timeout)
    records = run_steps(lake, steps, args, f"{products}-{users}")
    floor = floor_reference(lake / "raw")
    for record in records:
        if record["step"] in FLOOR_OF_STEP and record.get("compute_s"):
            record["ratio_to_floor"] = record["compute_s"] / max(floor[FLOOR_OF_STEP[record["step"]]], 1e-9)
    size = {
        "products": products, "users": users, "events": generated["events"]["rows"], "images": generated["images"],
        "generator": {"seconds": generated["seconds"], "rates": generated["rates"],
                      "peak_rss_mb": generated["peak_rss_mb"]},
        "import_baseline": {"wall_s": baseline["wall_s"], "peak_rss_mb": baseline["peak_rss_mb"]},
        "steps": records, "floor": floor, **step_totals(records),
    }
    if args.nightly:
        size["nightly"] = run_nightly(lake, products, records, args, steps)
    if not args.keep_lakes:
        shutil.rmtree(lake)
    return size


def nightly_only(products: int, users: int, args: argparse.Namespace, steps: list[str], sizes: list[dict]) -> dict:
    """The nightly of a size already in ``sizes`` whose built lake was kept (``--keep-lakes``), or with
    ``--rerun-nightly`` some steps of its last nightly again."""
    lake = args.work_dir / f"lake-{products}-{users}"
    size = next((s for s in sizes if (s["products"], s["users"]) == (products, users)), None)
    if size is None or not (lake / "raw").exists() or (args.rerun_nightly and "nightly" not in size):
        raise SystemExit(f"--nightly-only needs {products} x {users} in scale.json and its built lake in {lake}"
                         + (" (and a nightly to rerun)" if args.rerun_nightly else ""))
    if args.rerun_nightly:
        return rerun_nightly(size, lake, args, steps)
    return {**size, "nightly": run_nightly(lake, products, size["steps"], args, steps)}


def _step_upstream() -> dict[str, set[str]]:
    """Step -> the steps it (transitively) depends on."""
    from pipelines.definitions import defs

    job = defs.resolve_job_def(JOB)
    graph = job.asset_layer.asset_graph
    nodes = _step_nodes(job)
    node_of = {key: node for node, keys in nodes.items() for key in keys}
    upstream: dict[str, set[str]] = {node: set() for node in nodes}
    for node, keys in nodes.items():
        for key in keys:
            for parent in graph.get(key).parent_keys:
                if parent in node_of and node_of[parent] != node:
                    upstream[node] |= {node_of[parent]} | upstream[node_of[parent]]
    return upstream


def _short(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1_000_000 else f"{n / 1e3:.3g}k" if n >= 1_000 else str(n)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Sizes grow along products and users (events): one tick per size, in order of events then products.
    results = sorted(results, key=lambda r: (r["events"], r["products"]))
    sizes = list(range(len(results)))
    labels = [f"{_short(r['products'])} products\n{_short(r['users'])} users\n{_short(r['events'])} events" for r in results]
    steps = list(dict.fromkeys(s["step"] for r in results for s in r["steps"]))
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(15, 5))
    colours = plt.cm.tab20.colors     # one colour per step (build_all has under 20)
    for index, step in enumerate(steps):
        style = {"marker": "o", "label": step, "color": colours[index % len(colours)]}
        by_size = [next((s for s in r["steps"] if s["step"] == step and s["status"] == "ok"), None) for r in results]
        xs = [n for n, s in zip(sizes, by_size) if s]
        if xs:
            time_ax.plot(xs, [s["compute_s"] for s in by_size if s], **style)
            memory_ax.plot(xs, [s["peak_rss_mb"] for s in by_size if s], **style)
    time_ax.plot(sizes, [r["total_compute_s"] for r in results], "k--", marker="s", label="total (ok steps)")
    memory_ax.plot(sizes, [r["import_baseline"]["peak_rss_mb"] for r in results], "k:", label="import baseline")
    nightly = [(x, r["nightly"]) for x, r in zip(sizes, results) if r.get("nightly")]
    if nightly:
        time_ax.scatter([x for x, _ in nightly], [n["total_compute_s"] for _, n in nightly], marker="x", s=80,
                        color="k", zorder=5, label="nightly after a 1% change (total)")
        memory_ax.scatter([x for x, _ in nightly], [n["max_step_peak_rss_mb"] for _, n in nightly], marker="x", s=80,
                          color="k", zorder=5, label="nightly: largest step")
    for ax, label in ((time_ax, "step compute time (s)"), (memory_ax, "step peak RSS (MB)")):
        ax.set_yscale("log")
        ax.set_xticks(sizes, labels, fontsize=7)
        ax.set_xlabel("lake size")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    memory_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"build_all on synthetic lakes ({os.cpu_count()} CPUs, one step per process)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="+", default=[2_000, 5_000])
    parser.add_argument("--users", type=int, nargs="+", default=None, help="one per size (default: = products)")
    parser.add_argument("--events-per-user", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", nargs="*", default=None, help="only these steps (default: every step of build_all)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where lakes and step logs go (default: a temp dir)")
    parser.add_argument("--keep-lakes", action="store_true")
    parser.add_argument("--append", action="store_true",
                        help="keep the sizes already in scale.json (a new run of a size replaces its old one)")
    parser.add_argument("--reuse-lakes", action="store_true", help="reuse a generated raw/ of the same size in --work-dir")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="generator image workers")
    parser.add_argument("--nightly", action="store_true",
                        help="after each size's build, a night's change and every step again, incrementally")
    parser.add_argument("--nightly-only", action="store_true",
                        help="only the nightly, on sizes already measured whose lakes were kept (--keep-lakes)")
    parser.add_argument("--rerun-nightly", action="store_true",
                        help="with --nightly-only and --steps: run those steps of the last nightly again, no new change")
    parser.add_argument("--nightly-catalog-share", type=float, default=0.01, help="share of the products edited")
    parser.add_argument("--nightly-events-share", type=float, default=0.01, help="new events, as a share of the lake's")
    parser.add_argument("--nightly-active-share", type=float, default=0.02,
                        help="share of the users the new events come from (a tenth of them new users)")
    parser.add_argument("--step-timeout", type=float, default=3600.0, help="seconds before a step is killed")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--child-step", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child_step:
        run_child_step(args.child_step, args.result)
        return
    users = args.users or args.products
    if len(users) == 1:
        users = users * len(args.products)
    if len(users) != len(args.products):
        raise SystemExit("--users takes one value or one per --products value")
    from pipelines.definitions import defs

    all_steps = list(_step_nodes(defs.resolve_job_def(JOB)))
    unknown = set(args.steps or []) - set(all_steps)
    if unknown:
        raise SystemExit(f"unknown steps {sorted(unknown)}; build_all has {all_steps}")
    steps = [s for s in all_steps if not args.steps or s in args.steps]
    temporary = args.work_dir is None
    args.work_dir = Path(tempfile.mkdtemp(prefix="bench_scale_")) if temporary else args.work_dir
    (args.work_dir / "logs").mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "scale", "job": JOB, "steps": steps,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30},
        "events_per_user": args.events_per_user, "seed": args.seed, "sizes": [],
    }
    measured = json.loads((args.out / "scale.json").read_text())["sizes"] if (args.out / "scale.json").exists() else []
    if args.append or args.nightly_only:
        report["sizes"] = [size for size in measured if (size["products"], size["users"]) not in set(zip(args.products, users))]
    for n, m in zip(args.products, users):
        # written after every size, so a long run that is stopped keeps what it measured
        report["sizes"].append(nightly_only(n, m, args, steps, measured) if args.nightly_only
                               else run_size(n, m, args, steps))
        report["sizes"].sort(key=lambda size: (size["products"], size["users"]))
        (args.out / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
        plot(report["sizes"], args.out / "scale.png")
    if temporary and not args.keep_lakes:
        shutil.rmtree(args.work_dir, ignore_errors=True)
    print(f"wrote {args.out / 'scale.json'} and {args.out / 'scale.png'}")


if __name__ == "__main__":
    main()
