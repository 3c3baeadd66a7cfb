"""The Kubernetes deployment files agree with the code, the image and each other; the executor config
validates against dagster-k8s's own schema (the lock's k8s group, which `make env` and the image's k8s
target install), without a cluster."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.jobs import build_all, build_all_job

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "k8s"
APP_DIR = "/app"          # WORKDIR of the Dockerfile


def _yaml(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def _deployment() -> dict:
    (deployment,) = _yaml("values.yaml")["dagster-user-deployments"]["deployments"]
    return deployment


@pytest.fixture(scope="module")
def local_build_all() -> dg.JobDefinition:
    from pipelines.definitions import defs
    return defs.resolve_job_def("build_all")


def test_per_step_sizes_name_real_steps(local_build_all):
    steps = {node.name for node in local_build_all.graph.nodes}
    sized = set(_yaml("executor.yaml")["per_step_k8s_config"])
    assert sized and sized <= steps, sized - steps


@pytest.mark.parametrize("location", ["k8s", "celery"])
def test_code_location_files_load_as_dagster_loads_them(location):
    """`dagster api grpc -f FILE -d DIR` (the chart) and `dagster job execute -f` find exactly one
    Definitions at the file's module scope, and it is the deployment's."""
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_file

    (target,) = loadable_targets_from_python_file(str(REPO / "deploy" / location / "definitions.py"), str(REPO))
    assert target.attribute == "defs"
    assert target.target_definition.resolve_job_def("build_all").executor_def.name == f"{location}_steps"


def test_code_location_file_is_in_the_image():
    args = _deployment()["dagsterApiGrpcArgs"]
    python_file = args[args.index("-f") + 1]
    assert args[args.index("-d") + 1] == APP_DIR
    relative = Path(python_file).relative_to(APP_DIR)
    assert (REPO / relative).is_file()
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"WORKDIR {APP_DIR}" in dockerfile
    assert re.search(rf"^COPY {relative.parts[0]}/ {relative.parts[0]}/$", dockerfile, re.MULTILINE)
    assert "FROM app AS k8s" in dockerfile and "--group k8s" in dockerfile


def test_every_pod_sees_the_same_lake():
    deployment = _deployment()
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True   # run and step pods inherit it
    env = {e["name"]: e["value"] for e in deployment["env"]}
    (mount,) = [m for m in deployment["volumeMounts"] if m["mountPath"] == env["RECSYS_LAKE_DIR"]]
    (volume,) = [v for v in deployment["volumes"] if v["name"] == mount["name"]]
    claim = _yaml("lake-pvc.yaml")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_one_build_at_a_time_as_locally():
    local = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())["run_queue"]
    daemon = _yaml("values.yaml")["dagsterDaemon"]["runCoordinator"]
    assert daemon["type"] == "QueuedRunCoordinator"
    queue = daemon["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == local["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == local["tag_concurrency_limits"] == [
        {"key": "recsys/run", "value": "build", "limit": 1}]
    assert build_all.tags["recsys/run"] == "build"


def test_executor_config_validates_against_dagster_k8s():
    import dagster_k8s  # the lock's k8s group, which `make env` installs

    from pipelines.definitions import defs as local_defs

    k8s_defs = runpy.run_path(str(K8S / "definitions.py"))["defs"]
    job = k8s_defs.resolve_job_def("build_all")
    assert job.executor_def.name == "k8s_steps"
    execution = dg.validate_run_config(job, {})["execution"]["k8s_steps"]
    assert execution["max_concurrent"] == _yaml("executor.yaml")["max_concurrent"]
    # same assets as the local location (its partitioned shards too); schedules and sensors start the k8s job
    assert set(k8s_defs.resolve_asset_graph().get_all_asset_keys()) == \
        set(local_defs.resolve_asset_graph().get_all_asset_keys())
    assert all(s.job_name == "build_all" for s in [*k8s_defs.schedules, *k8s_defs.sensors] if getattr(s, "targets", True))
    # the schema is real: a misspelt field fails validation
    bad = dagster_k8s.k8s_job_executor.configured({**_yaml("executor.yaml"), "max_concurent": 2}, name="bad")
    bad_job = build_all_job(bad).resolve(asset_graph=k8s_defs.resolve_asset_graph())
    with pytest.raises(dg.DagsterInvalidConfigError, match="max_concurent"):
        dg.validate_run_config(bad_job, {})


def test_core_logs_reach_the_ui_as_locally():
    local = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text())["python_logs"]
    chart = _yaml("values.yaml")["pythonLogs"]
    assert chart == {"managedPythonLoggers": local["managed_python_loggers"], "pythonLogLevel": local["python_log_level"]}


def test_the_seed_job_fills_raw_on_the_lake_volume_from_the_image():
    job = _yaml("seed-raw-job.yaml")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    deployment = _deployment()
    lake_dir = {e["name"]: e["value"] for e in deployment["env"]}["RECSYS_LAKE_DIR"]
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert mount["mountPath"] == lake_dir and volume["name"] == mount["name"]
    assert volume["persistentVolumeClaim"]["claimName"] == _yaml("lake-pvc.yaml")["metadata"]["name"]
    assert container["image"].split(":")[0] == deployment["image"]["repository"]
    command = " ".join(container["command"])
    # copies what the Dockerfile put in the image, into the lake's raw/, never overwriting
    assert "COPY --chown=10001:10001 data_lake/raw/ data_lake/raw/" in (REPO / "Dockerfile").read_text()
    assert f"{APP_DIR}/data_lake/raw/." in command and f"{lake_dir}/raw/" in command and "cp -Rn" in command
    assert pod["securityContext"]["runAsUser"] == 10001


def test_step_pods_use_their_cpu_limit_and_are_retried():
    k8s_defs = runpy.run_path(str(K8S / "definitions.py"))["defs"]
    job = k8s_defs.resolve_job_def("build_all")
    executor = _yaml("executor.yaml")
    sizes = [executor["step_k8s_config"], *executor["per_step_k8s_config"].values()]
    for size in sizes:   # a CPU limit is what the threads follow (recsys.cpu_limit)
        resources = size["container_config"]["resources"]
        assert resources["limits"]["cpu"] == resources["requests"]["cpu"]
    config = dg.validate_run_config(job, {})
    assert config["ops"]["models__two_tower"]["config"]["threads"] == 0
    assert config["ops"]["models__als"]["config"]["num_threads"] == 0
    assert k8s_defs.resources["encoder"].threads == 0
    retried = job.op_retry_policy
    assert retried is not None and retried.max_retries >= 1
