"""Safe failure: a run killed mid-build leaves readable tables and the next run recovers; two runs
at once corrupt nothing. Builds run in their own processes (tests/lake_runs.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import dagster as dg
import duckdb
import polars as pl
import pytest

from recsys.gold import GOLD_TABLES
from recsys.synthetic.catalog_edits import change_styles
from tests.conftest import REPO, build_tiny_lake
from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources


@pytest.fixture()
def built(tmp_path):
    lake = build_tiny_lake(tmp_path / "lake")
    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG).success
    return lake


def _run(lake, *keys) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.lake_runs", str(lake), *keys], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})


def _parquet_rows(lake) -> dict[str, int]:
    """Every gold table reads whole, with its contract's columns."""
    rows = {}
    for name, table in GOLD_TABLES.items():
        frame = pl.read_parquet(lake / "gold" / f"{name}.parquet")
        assert list(frame.columns) == list(table.schema), name
        rows[name] = frame.height
    return rows


def _warehouse_rows(lake) -> dict[str, int]:
    con = duckdb.connect(str(lake / "warehouse.duckdb"), read_only=True)
    try:
        return {name: con.sql(f"SELECT count(*) FROM {name}").pl().item() for name in GOLD_TABLES}
    finally:
        con.close()


def _tables_are_whole(lake) -> dict[str, int]:
    """Every gold table reads whole, and the warehouse serves the same rows."""
    rows = _parquet_rows(lake)
    assert _warehouse_rows(lake) == rows
    return rows


def _ids_everywhere(lake) -> dict[str, set[str]]:
    similar = pl.read_parquet(lake / "gold" / "similar_items.parquet")
    users = pl.read_parquet(lake / "gold" / "user_recommendations.parquet")
    styles = pl.read_parquet(lake / "gold" / "style_recommendations.parquet")
    return {"products": set(pl.read_parquet(lake / "gold" / "products.parquet")["product_id"]),
            "similar_items": set(similar["product_id"]) | set(similar["similar_product_id"]),
            "user_recommendations": set(users["product_id"]), "style_recommendations": set(styles["product_id"]),
            "item_embeddings": set(pl.read_parquet(lake / "features" / "item_embeddings.parquet")["product_id"])}


@pytest.mark.slow
def test_a_killed_run_leaves_the_old_tables_and_the_next_run_recovers(built):
    lake = built
    rows_before = _tables_are_whole(lake)
    warehouse_before = (lake / "warehouse.duckdb").read_bytes()
    edit = change_styles(lake)
    run = _run(lake)
    marker = 'Started execution of step "gold__similar_items"'
    seen = _wait_for(run, marker)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert seen, "the run ended before similar_items started"
    # Killed mid-build: every Parquet table is still whole (the old one, or a new one the run had
    # finished), and the warehouse is the previous build's, consistent as a whole.
    _parquet_rows(lake)
    assert (lake / "warehouse.duckdb").read_bytes() == warehouse_before
    assert _warehouse_rows(lake) == rows_before

    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG).success
    _tables_are_whole(lake)
    ids = _ids_everywhere(lake)
    assert set(edit.new) <= ids["products"] and set(edit.new) <= ids["similar_items"]
    for table, present in ids.items():
        assert not set(edit.removed) & present, f"a removed product is still in {table}"


def _wait_for(run: subprocess.Popen, marker: str) -> bool:
    for line in iter(run.stderr.readline, ""):
        if marker in line:
            return True
    return False


@pytest.mark.slow
def test_two_runs_at_once_corrupt_nothing(built):
    lake = built
    change_styles(lake)
    runs = [_run(lake), _run(lake)]
    outputs = [run.communicate(timeout=900)[1] for run in runs]
    failures = ["\n".join(line for line in out.splitlines() if "Error" in line or "STEP_FAILURE" in line)[-4000:]
                for out in outputs]
    assert [run.returncode for run in runs] == [0, 0], failures
    rows = _tables_are_whole(lake)
    builds = pl.read_parquet(lake / "gold" / "builds.parquet")
    assert builds.height == 3 == rows["builds"]           # the first build and both overlapping ones
    similar = pl.read_parquet(lake / "gold" / "similar_items.parquet")
    assert set(similar["product_id"]) == _ids_everywhere(lake)["products"]
    # A third run on the same data is a no-op for the lists and still whole.
    assert dg.materialize(ALL_ASSETS, resources=offline_resources(lake), run_config=RUN_CONFIG).success
    assert _tables_are_whole(lake)["similar_items"] == similar.height
