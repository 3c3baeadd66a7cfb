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

# The module, not its defs: a second Definitions at module scope stops `dagster ... -f` loading this file.
from pipelines import definitions as local_location
from pipelines.deployments import with_build_all
from pipelines.jobs import build_all_job
from resources import EncoderResource

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")
# A step pod has a CPU limit (executor.yaml): its torch and implicit threads follow it (0 = every
# CPU the cgroup quota allows, recsys.cpu_limit) instead of the single thread of a shared machine.
POD_THREADS_CONFIG = {"ops": {"models__two_tower": {"config": {"threads": 0}},
                              "models__als": {"config": {"num_threads": 0}}}}
# Pods are evicted and nodes drained: a step that died with its pod runs again. Every asset writes
# its outputs atomically and reuses finished work, so a rerun is safe; a failed blocking check is a
# result, not an error, and is not retried.
STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)


def k8s_executor() -> dg.ExecutorDefinition:
    return k8s_job_executor.configured(yaml.safe_load(EXECUTOR_CONFIG.read_text()), name="k8s_steps")


def k8s_definitions(local: dg.Definitions) -> dg.Definitions:
    """``local`` with build_all on the k8s executor; its schedules and sensors retargeted to that job."""
    build_all = build_all_job(k8s_executor(), config=POD_THREADS_CONFIG, retry_policy=STEP_RETRY)
    return with_build_all(local, build_all, resources={"encoder": EncoderResource(threads=0)})


defs = k8s_definitions(local_location.defs)
