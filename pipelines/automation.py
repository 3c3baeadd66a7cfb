"""When the build runs (nightly on a schedule, and whenever new raw files land), and what is
recorded when it fails."""

import os
from datetime import datetime, timezone

import dagster as dg

from assets import keys
from pipelines.jobs import build_all
from recsys.gold.failures import FailedBuild, append_failure
from recsys.raw_files import snapshot_raw
from resources import LakeResource

NIGHTLY_CRON = "0 2 * * *"


def nightly_schedule(timezone: str | None = None) -> dg.ScheduleDefinition:
    """build_all at 02:00 in ``timezone`` (default: $RECSYS_TIMEZONE, else UTC)."""
    return dg.ScheduleDefinition(
        name="nightly_build",
        job=build_all,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=timezone or os.getenv("RECSYS_TIMEZONE", "UTC"),
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Rebuild every table from the raw catalogs each night; unchanged work is reused.",
    )


@dg.sensor(job=build_all, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts build_all when files under data_lake/raw/ are added, removed or changed.")
def raw_files_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    snapshot = snapshot_raw(lake.raw_dir)
    if snapshot.fingerprint == context.cursor:
        return dg.SkipReason(f"no change in {snapshot.files} raw files")
    first_look = context.cursor is None
    context.update_cursor(snapshot.fingerprint)
    if first_look:
        # The first evaluation only records what is there; the nightly build covers it.
        return dg.SkipReason(f"recorded {snapshot.files} raw files ({snapshot.bytes:,} bytes)")
    return dg.RunRequest(run_key=snapshot.fingerprint,
                         tags={"recsys/trigger": "raw_files", "recsys/raw_files": str(snapshot.files)})


@dg.run_failure_sensor(monitored_jobs=[build_all], default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records every failed build_all run in gold/failed_builds.parquet (run, "
                                   "failed steps, error) and logs one line saying what failed.")
def build_failure_sensor(context: dg.RunFailureSensorContext, lake: LakeResource):
    failure = FailedBuild(
        run_id=context.dagster_run.run_id, job=context.dagster_run.job_name,
        failed_at=datetime.now(timezone.utc),
        failed_steps=[event.step_key for event in context.get_step_failure_events() if event.step_key],
        message=(context.failure_event.message or "no message").strip())
    with lake.locked("failed_builds"):
        lake.write(append_failure(lake.read_if_exists(keys.FAILED_BUILDS), failure), keys.FAILED_BUILDS)
    context.log.error(failure.summary() + "; the previous build's tables stay published.")
