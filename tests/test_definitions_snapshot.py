"""The asset graph, checks, jobs, schedule and sensors, pinned in a committed snapshot.

An accidental change to a dependency, a group, a check's blocking flag, a job's selection or the
schedule fails this test; an intended one shows as a reviewable diff of
``tests/snapshots/definitions.json``. Regenerate it after an intended change with

    UPDATE_SNAPSHOTS=1 uv run --locked pytest tests/test_definitions_snapshot.py

and commit the new file with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from pipelines.automation import nightly_schedule
from pipelines.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
TIMEZONE_VAR = "RECSYS_TIMEZONE"


def _assets(graph) -> dict:
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "code_version": node.code_version,
            "materializable": node.is_materializable,
            "partitions": node.partitions_def.get_partition_keys() if node.partitions_def else None,
            "freshness_policy": node.freshness_policy is not None,
            "checks": {check.name: {"blocking": graph.get_check_spec(check).blocking}
                       for check in sorted(node.check_keys, key=lambda c: c.name)},
        }
    return assets


def _jobs() -> dict:
    jobs = {}
    for name in sorted(job.name for job in defs.jobs or []):
        job = defs.resolve_job_def(name)
        jobs[name] = {"assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
                      "executor": job.executor_def.name, "tags": dict(sorted(job.tags.items()))}
    return jobs


def _monitored_jobs(sensor: dg.SensorDefinition) -> list[str]:
    # A run-status sensor's monitored jobs have no public accessor in Dagster 1.13.
    monitored = getattr(sensor, "_monitored_jobs", None) or []
    return sorted(getattr(job, "name", None) or getattr(job, "job_name", str(job)) for job in monitored)


def _schedules(monkeypatch) -> dict:
    monkeypatch.delenv(TIMEZONE_VAR, raising=False)
    default_timezone = nightly_schedule().execution_timezone
    monkeypatch.setenv(TIMEZONE_VAR, "Asia/Kolkata")
    from_environment = nightly_schedule().execution_timezone
    schedules = {}
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        schedules[schedule.name] = {
            "cron": schedule.cron_schedule, "job": schedule.job_name,
            "default_status": schedule.default_status.value,
            "timezone_by_default": default_timezone, f"timezone_with_{TIMEZONE_VAR}=Asia/Kolkata": from_environment,
        }
    return schedules


def _sensors() -> dict:
    sensors = {}
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        sensors[sensor.name] = {
            "type": sensor.sensor_type.value,
            "jobs": sorted(target.job_name for target in sensor.targets),
            "monitored_jobs": _monitored_jobs(sensor),
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
            "resources": sorted(sensor.required_resource_keys),
        }
    return sensors


def definitions_snapshot(monkeypatch) -> dict:
    """What the code location defines, in a stable, sorted form."""
    return {"assets": _assets(defs.resolve_asset_graph()), "jobs": _jobs(), "schedules": _schedules(monkeypatch),
            "sensors": _sensors(), "resources": sorted((defs.resources or {}).keys())}


def test_definitions_match_the_committed_snapshot(monkeypatch):
    current = json.dumps(definitions_snapshot(monkeypatch), indent=2, sort_keys=True) + "\n"
    if os.getenv("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run UPDATE_SNAPSHOTS=1 pytest {Path(__file__).name}"
    assert current == SNAPSHOT.read_text(), (
        f"the definitions changed: if that is intended, run UPDATE_SNAPSHOTS=1 pytest tests/{Path(__file__).name} "
        "and commit the diff of tests/snapshots/definitions.json")
