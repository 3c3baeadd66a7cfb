"""When the build runs: nightly on a schedule, and whenever new raw files land."""

import os

import dagster as dg

from pipelines.jobs import build_all
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
