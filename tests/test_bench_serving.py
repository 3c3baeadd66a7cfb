"""The serving benchmark as a user runs it, on the tiny built lake: wrk drives the app and only right
answers count (Debian's wrk; .ci/run installs it)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.bench_serving import _start_server, wrk_load
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_benchmark_reports_every_query_kind_beside_raw_duckdb(published_lake, tmp_path):
    subprocess.run([sys.executable, "benchmarks/bench_serving.py", "--lake", str(published_lake), "--out",
                    str(tmp_path), "--seconds", "1", "--ids", "50"], cwd=REPO, check=True, timeout=300)
    report = json.loads((tmp_path / "serving.json").read_text())
    assert set(report["results"]) == {"similar_items", "user_recommendations", "new_shopper", "text_search",
                                      "duckdb_similar_items", "duckdb_user_recommendations"}
    for name, result in report["results"].items():
        assert result["requests"] > 0 and result["errors"] == 0, name
        assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"], name
    assert set(report["met"]) == {"precomputed_p99", "precomputed_rps", "no_errors", "new_shopper_p99"}
    assert (tmp_path / "serving.png").stat().st_size > 0


def test_answers_that_are_not_a_list_count_as_errors(published_lake):
    port = free_port()
    server = _start_server(published_lake, port, 300, Path(tempfile.gettempdir()) / "test_bench_serving.log")
    try:
        unknown = wrk_load(port, [("GET", "/products/no-such-product/similar?k=10", "")], 2, 1)
        assert unknown["errors"] == unknown["requests"] > 0
        assert unknown["error_samples"] and unknown["error_samples"][0].startswith("404")
        not_a_list = wrk_load(port, [("GET", "/health", "")], 2, 1)
        assert not_a_list["errors"] == not_a_list["requests"] > 0
        bad_json = wrk_load(port, [("POST", "/recommendations", '{"history": ')], 2, 1)
        assert bad_json["errors"] == bad_json["requests"] > 0
    finally:
        server.terminate()
        server.wait(30)
