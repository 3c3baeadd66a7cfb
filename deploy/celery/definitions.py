"""The code location for Celery workers: the same Definitions as pipelines/definitions.py, with
build_all's steps sent through a broker to Celery workers by dagster-celery's ``celery_executor``
(each worker runs one step at a time: deploy/celery/worker.sh). The broker's URL comes from
``$RECSYS_CELERY_BROKER`` (e.g. ``redis://broker-host:6379/0``) in every process that launches or
runs build_all; Redis also keeps the step results. Load it with
``dagster dev -f deploy/celery/definitions.py -d .`` (or ``dagster api grpc -f ... -d /app``).
Needs the lock's ``celery`` dependency group (``make env`` installs it).
"""

import dagster as dg
from dagster_celery import celery_executor

# The module, not its defs: a second Definitions at module scope stops `dagster ... -f` loading this file.
from pipelines import definitions as local_location
from pipelines.deployments import with_build_all
from pipelines.jobs import build_all_job

BROKER_ENV_VAR = "RECSYS_CELERY_BROKER"


def celery_steps_executor() -> dg.ExecutorDefinition:
    broker = {"env": BROKER_ENV_VAR}
    return celery_executor.configured({"broker": broker, "backend": broker}, name="celery_steps")


def celery_definitions(local: dg.Definitions) -> dg.Definitions:
    """``local`` with build_all on Celery workers; its schedules and sensors retargeted to that job."""
    return with_build_all(local, build_all_job(celery_steps_executor()))


defs = celery_definitions(local_location.defs)
