"""The nightly schedule and the raw-files sensor, evaluated with Dagster's testing helpers."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

import polars as pl

from assets import keys
from pipelines.automation import NIGHTLY_CRON, build_failure_sensor, nightly_schedule, raw_files_sensor
from pipelines.definitions import defs
from resources import LakeResource


def test_schedule_runs_build_all_nightly_in_the_configured_timezone():
    schedule = nightly_schedule("Europe/London")
    assert schedule.job_name == "build_all" and schedule.execution_timezone == "Europe/London"
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 23, 2, 0))
    requests = schedule.evaluate_tick(context).run_requests
    assert len(requests) == 1
    assert schedule.cron_schedule == NIGHTLY_CRON == "0 2 * * *"
    assert defs.resolve_schedule_def("nightly_build").job_name == "build_all"


def _evaluate(lake: LakeResource, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": lake})
    result = raw_files_sensor(context)
    return result, context.cursor


def test_sensor_fires_only_when_raw_files_change(tiny_lake: Path):
    lake = LakeResource(root=str(tiny_lake))
    first, cursor = _evaluate(lake, None)
    assert isinstance(first, dg.SkipReason)  # first look records the state
    same, cursor2 = _evaluate(lake, cursor)
    assert isinstance(same, dg.SkipReason) and cursor2 == cursor
    new_file = tiny_lake / "raw" / "asos" / "asos_2026-11-24.csv"
    new_file.write_text("name,price,color,description,images,category\nCoat,10,Red,x,[],Asos\n")
    fired, cursor3 = _evaluate(lake, cursor)
    assert isinstance(fired, dg.RunRequest) and fired.run_key == cursor3 != cursor
    os.utime(new_file, ns=(1, 1))  # a rewrite in place (different mtime) is a change too
    again, _ = _evaluate(lake, cursor3)
    assert isinstance(again, dg.RunRequest)
    assert defs.resolve_sensor_def("raw_files_sensor").job_name == "build_all"


@dg.op
def _parse_catalog():
    raise ValueError("raw/asos/asos.csv: disk quota exceeded")


@dg.job
def _failing_build():
    _parse_catalog()


def _failure_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = _failing_build.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in instance.all_logs(result.run_id) if e.dagster_event
                   and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="build_failure_sensor", dagster_event=failure.dagster_event, dagster_instance=instance,
        dagster_run=run, resources={"lake": LakeResource(root=str(instance.root_directory) + "/lake")},
    ).for_run_failure()


def test_a_failed_build_is_recorded_in_the_lake_with_its_failed_steps(tmp_path: Path, capfd):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with _failure_context(instance) as first, _failure_context(instance) as second:
            build_failure_sensor(first)
            build_failure_sensor(second)
            build_failure_sensor(second)  # a sensor retry records the run once
    table = pl.read_parquet(tmp_path / "lake" / f"{keys.FAILED_BUILDS}.parquet")
    assert table["run_id"].to_list() == [first.dagster_run.run_id, second.dagster_run.run_id]
    assert table["failed_steps"].to_list() == [["_parse_catalog"], ["_parse_catalog"]]
    assert table["job"].unique().to_list() == ["_failing_build"]
    assert "failed" in table["message"][0]
    logged = [line for line in capfd.readouterr().err.splitlines() if "stay published" in line]
    assert len(logged) == 3 and all("ERROR" in line and "failed" in line and "_parse_catalog" in line for line in logged)
    assert isinstance(defs.resolve_sensor_def("build_failure_sensor"), dg.RunStatusSensorDefinition)
