"""build_all on real Celery workers: a Redis broker and two worker processes started here, one run
whose steps the two workers share, and the same published tables as an in-process build."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import redis
from celery import Celery
from dagster._core.definitions.reconstruct import ReconstructableRepository
from polars.testing import assert_frame_equal

from tests.built_lake import RUN_CONFIG, build_published_lake
from tests.conftest import build_tiny_lake
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
CELERY = REPO / "deploy" / "celery"
GOLD_TABLES = ["similar_items", "user_recommendations", "style_recommendations", "products"]
# The tests' offline resources (tests/built_lake.py::offline_resources) as run config: the workers
# build the job from the code location's file, so what a test passes in memory would not reach them.
OFFLINE_RESOURCES = {"image_fetcher": {"config": {"offline": True}}, "encoder": {"config": {"threads": 1}}}
WORKERS = ("worker_a", "worker_b")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (a worker's warm shutdown finishes its step), then SIGKILL if it does not exit."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def started(tmp_path):
    """Start processes through ``started(name, args, env)``; every one is stopped by pid at teardown."""
    processes: list[subprocess.Popen] = []

    def start(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")
        processes.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        return processes[-1]

    yield start
    for process in reversed(processes):
        _stop(process)


def _wait_until(ready, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready after {timeout_s:.0f}s")
        time.sleep(0.5)


def _redis_answers(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        return False


def _workers_answering(broker: str) -> set[str]:
    app = Celery(broker=broker, backend=broker)
    try:
        return {name.split("@")[0] for reply in app.control.ping(timeout=1) for name in reply}
    finally:
        app.close()


def _gold_tables(lake: Path) -> dict[str, pl.DataFrame]:
    """Published tables without the build id (each build has its own), rows in a stable order."""
    tables = {}
    for name in GOLD_TABLES:
        table = pl.read_parquet(lake / "gold" / f"{name}.parquet").drop("build_id")
        tables[name] = table.sort(table.columns)
    return tables


def test_the_celery_code_location_sends_build_all_to_the_broker_it_is_given(monkeypatch):
    from pipelines.definitions import defs as local_defs

    monkeypatch.delenv("RECSYS_CELERY_BROKER", raising=False)
    celery_defs = runpy.run_path(str(CELERY / "definitions.py"))["defs"]
    job = celery_defs.resolve_job_def("build_all")
    assert job.executor_def.name == "celery_steps"
    with pytest.raises(dg.DagsterInvalidConfigError, match="RECSYS_CELERY_BROKER"):
        dg.validate_run_config(job, {})            # no broker: the run fails before any step
    monkeypatch.setenv("RECSYS_CELERY_BROKER", "redis://broker-host:6379/0")
    execution = dg.validate_run_config(job, {})["execution"]["celery_steps"]
    assert execution["broker"] == execution["backend"] == "redis://broker-host:6379/0"
    # same assets as the local location; its schedules and sensors start the Celery job
    assert set(celery_defs.resolve_asset_graph().get_all_asset_keys()) == set(local_defs.resolve_asset_graph().get_all_asset_keys())
    schedule = celery_defs.resolve_schedule_def("nightly_build")
    assert schedule.job is not None and schedule.job.executor_def.name == "celery_steps"


def test_workers_listen_on_the_queue_the_executor_sends_steps_to():
    from dagster_celery.config import TASK_EXECUTE_PLAN_NAME
    from dagster_celery.make_app import make_app

    (queue,) = re.findall(r"--queues (\S+)", (CELERY / "worker.sh").read_text())
    assert make_app().conf.task_routes[TASK_EXECUTE_PLAN_NAME]["queue"] == queue


@pytest.mark.slow
def test_build_all_steps_run_on_two_celery_workers_and_publish_the_in_process_tables(tmp_path, started, monkeypatch):
    redis_server = shutil.which("redis-server")
    assert redis_server, "needs Debian's redis-server (apt-get install redis-server; .ci/run installs it)"
    lake = build_tiny_lake(tmp_path / "lake")
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    started("redis", [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"])
    _wait_until(lambda: _redis_answers(port), "redis-server")

    # what a worker machine sets: the broker, the shared lake, the environment's commands on PATH
    monkeypatch.setenv("RECSYS_CELERY_BROKER", broker)
    monkeypatch.setenv("RECSYS_LAKE_DIR", str(lake))
    worker_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    workers = {name: started(name, ["bash", str(CELERY / "worker.sh"), name], worker_env) for name in WORKERS}
    _wait_until(lambda: _workers_answering(broker) == set(WORKERS), "both Celery workers")

    # the job as a code server would load it: from the code location's file, so workers rebuild it
    build_all = ReconstructableRepository.for_file(
        str(CELERY / "definitions.py"), "defs", working_directory=str(REPO)).get_reconstructable_job("build_all")
    with dg.instance_for_test() as instance:      # persistent (SQLite in a temp DAGSTER_HOME): workers write to it
        result = dg.execute_job(build_all, instance=instance,
                                run_config={**RUN_CONFIG, "resources": OFFLINE_RESOURCES})
        assert result.success
        step_pids = {e.step_key: e.pid for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
        steps = {node.name for node in result.job_def.graph.nodes}

    worker_pids = {worker.pid for worker in workers.values()}
    assert set(step_pids.values()) == worker_pids       # every step ran in a worker, and both workers ran steps
    assert set(step_pids) == steps

    in_process = build_published_lake(tmp_path / "in_process")
    for name, table in _gold_tables(in_process).items():
        distributed = _gold_tables(lake)[name]
        assert len(table) > 0
        assert_frame_equal(distributed, table, check_exact=False, rel_tol=1e-5, abs_tol=1e-6)
