"""A deployment's code location: the local Definitions with build_all on another executor
(deploy/k8s: one pod per step; deploy/celery: steps sent to Celery workers)."""

import dagster as dg


def with_build_all(local: dg.Definitions, build_all: dg.JobDefinition,
                   resources: dict[str, object] | None = None) -> dg.Definitions:
    """``local`` with its build_all replaced by ``build_all`` (same name, another executor), the
    schedules and sensors that target it retargeted, and ``resources`` overriding local ones."""

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
        resources={**local.resources, **(resources or {})},
    )
