"""The UI works: dagster-webserver serves the graph over GraphQL and launches a materialization.

The test starts its own webserver on a loopback port (``dagster dev`` in the background ignores
SIGTERM) and stops the whole process group it started, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } } }"



def _wait_until(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")


@pytest.fixture
def webserver(tiny_lake: Path, tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No daemon here: launch runs straight from the webserver instead of queueing them.
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        "telemetry:\n  enabled: false\n")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "RECSYS_LAKE_DIR": str(tiny_lake)}
    log = open(tmp_path / "webserver.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"webserver exited: {(tmp_path / 'webserver.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_until(up, 180, "the webserver to answer")
        yield url, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_webserver_lists_assets_and_materializes(webserver, tiny_lake: Path):
    url, port = webserver
    response = httpx.post(f"{url}/graphql", json={"query": ASSET_KEYS_QUERY}, timeout=60)
    keys = {"/".join(node["assetKey"]["path"]) for node in response.json()["data"]["assetNodes"]}
    assert {"silver/products", "silver/quarantine", "raw/asos"} <= keys

    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
    run_id = client.submit_job_execution("build_all", asset_selection=[["silver", "products"], ["silver", "quarantine"],
                                                                    ["silver", "product_changes"]])
    finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    status = _wait_until(lambda: (s := client.get_run_status(run_id)) in finished and s, 300, "the run to finish", 2.0)
    assert status == DagsterRunStatus.SUCCESS
    assert (tiny_lake / "silver" / "products.parquet").exists()
