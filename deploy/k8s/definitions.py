"""The code location for Kubernetes: the same Definitions as pipelines/definitions.py, with
build_all run by dagster-k8s's ``k8s_job_executor`` (each step in its own pod, configured by
executor.yaml beside this file). Loaded by the user-code deployment of values.yaml:
``dagster api grpc -f /app/deploy/k8s/definitions.py -d /app``. Needs ``dagster-k8s`` in the image
(the Dockerfile's ``k8s`` target installs it).
"""

from pathlib import Path

import dagster as dg
import yaml
from dagster_k8s import k8s_job_executor

from pipelines.definitions import defs as local_defs
from pipelines.jobs import build_all_job

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")


def k8s_executor() -> dg.ExecutorDefinition:
    return k8s_job_executor.configured(yaml.safe_load(EXECUTOR_CONFIG.read_text()), name="k8s_steps")


def k8s_definitions(local: dg.Definitions) -> dg.Definitions:
    """``local`` with build_all on the k8s executor; its schedules and sensors retargeted to that job."""
    build_all = build_all_job(k8s_executor())

    def retarget(automation):
        if isinstance(automation, dg.SensorDefinition) and not automation.targets:
            return automation  # a run-status sensor: it watches build_all by name, whichever executor runs it
        return automation.with_updated_job(build_all) if automation.job_name == build_all.name else automation

    return dg.Definitions(
        assets=local.assets,
        asset_checks=local.asset_checks,
        jobs=[build_all, *(job for job in local.jobs or [] if job.name != build_all.name)],
        schedules=[retarget(schedule) for schedule in local.schedules or []],
        sensors=[retarget(sensor) for sensor in local.sensors or []],
        resources=local.resources,
    )


defs = k8s_definitions(local_defs)
