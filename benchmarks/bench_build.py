"""A first build of the embedded sample from an empty lake, then a nightly rebuild after a 1% change.

Both builds are the README's command (``dg launch --job build_all``) in a child process, on a lake
that starts with a copy of the raw sample. For every step it records wall seconds (start and end,
from the run's events in the Dagster instance) and CPU seconds (the step's process, sampled from
/proc every ``--sample-every`` seconds while it runs; a step's last fraction of a sample interval is
not seen), the critical path (the chain of steps, each waiting on the upstream step that finished
last, that ends the run), and draws both runs' steps over time as a Gantt chart. Beside them: the
machine's CPU and whether the towers ran in bfloat16 on it, and the first build's quality (the
image tower's held-out scores, the evaluation report's headline), the bar the build time must keep.

    python benchmarks/bench_build.py                        # the embedded sample, 1% change
    python benchmarks/bench_build.py --work-dir /data/bench --fraction 0.01
    python benchmarks/bench_build.py --precision fp32 --out benchmarks/results/build_xeon_fp32.json  # bf16 off
    python benchmarks/bench_build.py --from-instance dagster_home   # report the newest build_all run there

Writes benchmarks/results/build.json and build.png. Goal (issue 19): the first build within
8 minutes of wall time on a 2-core machine; stretch 5.
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

GOAL_S, STRETCH_S = 8 * 60, 5 * 60
JOB = "build_all"
_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU of a process tree, from /proc --------------------------------------------------------
def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()     # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


class TreeCpu:
    """Samples the CPU seconds of every process below ``root`` until stopped; keeps each pid's last."""

    def __init__(self, root: int, every_s: float):
        self.root, self.every_s = root, every_s
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit()
                     and (s := _proc_stat(int(p.name))) is not None}
            below, frontier = set(), [self.root]
            while frontier:
                parent = frontier.pop()
                below.add(parent)
                frontier.extend(pid for pid, (ppid, _) in stats.items() if ppid == parent and pid not in below)
            for pid in below:
                if pid in stats:
                    self.cpu[pid] = stats[pid][1]
            self._stop.wait(self.every_s)


# --- one build and its steps ------------------------------------------------------------------
def precision_run_config(precision: str) -> dict:
    """build_all's run config that sets the encoder resource's precision (MiniLM and the image tower)."""
    return {"resources": {"encoder": {"config": {"precision": precision}}}}


def launch(lake: Path, home: Path, log: Path, sample_every: float,
           precision: str = "auto") -> tuple[float, dict[int, float]]:
    """The README's build command on ``lake``: (wall seconds, CPU seconds by pid). A ``precision``
    other than "auto" is the encoder resource's, as run config."""
    env = {**os.environ, "RECSYS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(home)}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = [str(Path(sys.executable).with_name("dg")), "launch", "--job", JOB]
    if precision != "auto":
        command += ["--config-json", json.dumps(precision_run_config(precision))]
    started = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        with TreeCpu(child.pid, sample_every) as cpu:
            code = child.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{JOB} failed (exit {code}); see {log}")
    return seconds, cpu.cpu


def step_timeline(home: Path, cpu_by_pid: dict[int, float] | None = None) -> dict:
    """The newest build_all run in the instance at ``home``: its steps with start/end offsets (s),
    wall and CPU seconds, and the critical path."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=JOB), limit=1)
        if not runs:
            raise SystemExit(f"no {JOB} run in the instance at {home}")
        run = runs[0]
        stats = {s.step_key: s for s in instance.get_run_step_stats(run.run_id)}
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
        pids = {r.event_log_entry.dagster_event.step_key: r.event_log_entry.dagster_event.pid for r in records}
        run_stats = instance.get_run_stats(run.run_id)
    origin = run_stats.start_time
    steps = {}
    for key, s in stats.items():
        if s.start_time is None or s.end_time is None:
            continue
        cpu = (cpu_by_pid or {}).get(pids.get(key, -1))
        steps[key] = {"start_s": round(s.start_time - origin, 2), "end_s": round(s.end_time - origin, 2),
                      "wall_s": round(s.end_time - s.start_time, 2),
                      "cpu_s": round(cpu, 1) if cpu is not None else None, "status": str(s.status.value)}
    return {"run_id": run.run_id, "status": str(run.status.value),
            "wall_s": round(run_stats.end_time - origin, 1) if run_stats.end_time else None,
            "steps": dict(sorted(steps.items(), key=lambda kv: kv[1]["start_s"])),
            "critical_path": critical_path(steps, upstream_steps())}


def upstream_steps() -> dict[str, set[str]]:
    """Each step of build_all with the steps it waits on (from the job's execution plan)."""
    from dagster._core.execution.api import create_execution_plan

    from pipelines.definitions import defs

    plan = create_execution_plan(defs.resolve_job_def(JOB))
    return {step.key: set(step.get_execution_dependency_keys())
            for step in plan.get_all_steps_in_topo_order()}


def critical_path(steps: dict[str, dict], upstream: dict[str, set[str]]) -> list[str]:
    """From the step that ended last, back through the upstream step that ended last each time."""
    if not steps:
        return []
    path = [max(steps, key=lambda k: steps[k]["end_s"])]
    while True:
        waited = [u for u in upstream.get(path[-1], ()) if u in steps]
        if not waited:
            return path[::-1]
        path.append(max(waited, key=lambda k: steps[k]["end_s"]))


# --- report -----------------------------------------------------------------------------------
def plot(builds: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(builds), 1, figsize=(12, 0.3 * sum(len(b["steps"]) for b in builds.values()) + 2.5),
                             squeeze=False)
    for ax, (name, build) in zip(axes[:, 0], builds.items()):
        steps = build["steps"]
        critical = set(build["critical_path"])
        keys = list(steps)
        for row, key in enumerate(keys):
            s = steps[key]
            ax.barh(row, s["wall_s"], left=s["start_s"], color="tab:red" if key in critical else "tab:blue")
        ax.set_yticks(range(len(keys)), keys, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{name}: {build['wall_s']} s wall (red: critical path)")
        ax.set_xlabel("seconds since the run started")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), '' where it is not readable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_facts() -> dict:
    """What the figures depend on: the CPU, and whether the towers run in bfloat16 on it."""
    import torch

    from recsys.embeddings.precision import bf16_is_fast

    return {"platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch_precision": "bf16" if bf16_is_fast(torch.device("cpu"))
            else "fp32", "load_average_at_end": os.getloadavg()}


def build_quality(lake: Path) -> dict:
    """The first build's quality bar (issue 19): the image tower's held-out scores and precision,
    and the evaluation report's headline (the hybrid against the best single model, with its interval)."""
    quality: dict = {}
    tower_config = lake / "models" / "image_tower" / "config.json"
    if tower_config.exists():
        training = json.loads(tower_config.read_text())["training"]
        held_out = training["metrics"]["image_tower"]
        quality["image_tower"] = {"precision": training.get("precision"), "epochs": training.get("epochs"),
                                  "text_to_image@10": held_out.get("text_to_image@10"),
                                  "zero_shot_accuracy": held_out.get("zero_shot_accuracy")}
    report = lake / "gold" / "evaluation" / "report.md"
    if report.exists():
        quality["evaluation_headline"] = [line[2:] for line in report.read_text().split("## Headline", 1)[-1]
                                          .split("\n## ", 1)[0].splitlines() if line.startswith("- ")]
    return quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, default=REPO / "data_lake" / "raw")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of the Myntra styles changed")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the lake is built (default: a temp dir)")
    parser.add_argument("--sample-every", type=float, default=0.5, help="seconds between CPU samples")
    parser.add_argument("--from-instance", type=Path, default=None,
                        help="only report the newest build_all run of this DAGSTER_HOME (no CPU figures)")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="the towers' and MiniLM's precision (auto: bf16 where the CPU has bf16 units)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "build.json")
    args = parser.parse_args()

    if args.from_instance is not None:
        builds = {"newest run": step_timeline(args.from_instance.resolve())}
    else:
        from recsys.synthetic.catalog_edits import change_styles, fraction_counts, style_rows

        work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench_build_"))
        lake, home = work / "lake", work / "dagster_home"
        shutil.rmtree(work / "lake", ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(args.raw, lake / "raw")
        home.mkdir(parents=True)
        # The README's instance settings: the core's progress lines go to the run's log, as in `make build`.
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        print(f"first build on {lake} ...", flush=True)
        first_s, first_cpu = launch(lake, home, work / "first.log", args.sample_every, args.precision)
        first = step_timeline(home, first_cpu)
        first["quality"] = build_quality(lake)
        counts = fraction_counts(style_rows(lake), args.fraction)
        change_styles(lake, **counts)
        print(f"first build {first_s:.0f} s; changed the catalog {counts}; nightly rebuild ...", flush=True)
        nightly_s, nightly_cpu = launch(lake, home, work / "nightly.log", args.sample_every, args.precision)
        nightly = step_timeline(home, nightly_cpu)
        first["command_wall_s"], nightly["command_wall_s"] = round(first_s, 1), round(nightly_s, 1)
        builds = {"first build": first, f"nightly after a {args.fraction:.0%} change": nightly}
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_facts(), "precision_setting": args.precision,
        "goal_s": GOAL_S, "stretch_s": STRETCH_S, "builds": builds,
    }
    first = next(iter(builds.values()))
    wall = first.get("command_wall_s") or first["wall_s"]
    result["first_build_meets_goal"] = wall is not None and wall <= GOAL_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(builds, args.out.with_suffix(".png"))
    for name, build in builds.items():
        print(f"\n{name}: {build.get('command_wall_s', build['wall_s'])} s; critical path: "
              + " -> ".join(build["critical_path"]))
        print("| step | start s | wall s | CPU s |\n|---|---:|---:|---:|")
        for key, s in sorted(build["steps"].items(), key=lambda kv: -kv[1]["wall_s"]):
            print(f"| {key} | {s['start_s']:.0f} | {s['wall_s']:.1f} | {s['cpu_s'] if s['cpu_s'] is not None else ''} |")


if __name__ == "__main__":
    main()
