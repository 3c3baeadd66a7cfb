"""The nightly schedule and the raw-files sensor, evaluated with Dagster's testing helpers."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from pipelines.automation import NIGHTLY_CRON, nightly_schedule, raw_files_sensor
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
