"""The Dockerfile agrees with uv.lock: the torch CPU wheel it provides is the one the lock names,
where the lock looks for it, and the k8s target's integrations match the locked dagster."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import unquote

from deploy import torch_wheel

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()
LOCK = tomllib.loads((REPO / "uv.lock").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _locked(name: str) -> dict:
    (package,) = [p for p in LOCK["package"] if p["name"] == name]
    return package


def _arg(name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE).group(1)


def test_torch_wheel_is_the_locked_one_where_the_lock_looks():
    (wheel,) = _locked("torch")["wheels"]
    locked = Path(wheel["path"])
    assert _arg("TORCH_WHEEL") == locked.name
    url = re.search(r"^\s+(https://\S+\.whl) /\$\{TORCH_WHEEL\}$", DOCKERFILE, re.MULTILINE).group(1)
    assert unquote(url.rsplit("/", 1)[1]) == locked.name
    assert re.search(r"ADD --checksum=sha256:[0-9a-f]{64} ", DOCKERFILE)
    (find_links,) = PYPROJECT["tool"]["uv"]["find-links"]
    assert str(locked.parent) == "." and find_links == ".wheels"
    checksum = re.search(r"ADD --checksum=sha256:([0-9a-f]{64}) ", DOCKERFILE).group(1)
    assert checksum == torch_wheel.SHA256 and locked.name == torch_wheel.WHEEL
    # every uv command that resolves the lock sees the wheel folder (two syncs, the k8s and celery targets)
    uv_runs = [run for run in re.findall(r"^RUN (.*?)(?=^\S)", DOCKERFILE, re.MULTILINE | re.DOTALL)
               if "uv sync" in run or "uv pip" in run]
    assert len(uv_runs) == 4
    assert all(f"--mount=type=bind,from=torch-wheel,target=/app/{find_links}" in run for run in uv_runs)


def test_k8s_integrations_follow_the_locked_dagster():
    major, minor, patch = _locked("dagster")["version"].split(".")
    assert major == "1"
    # dagster 1.X.Y ships its integrations as 0.(X+16).Y
    for integration in ("dagster-k8s", "dagster-postgres"):
        assert _locked(integration)["version"] == f"0.{int(minor) + 16}.{patch}", integration
    assert "uv sync --locked --no-dev --group k8s" in DOCKERFILE


def test_image_carries_the_instance_config_and_runs_unprivileged():
    assert "COPY --chown=10001:10001 dagster_home/dagster.yaml dagster_home/" in DOCKERFILE
    assert re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)[-1] == "10001"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data_lake/*" in ignored and "!data_lake/raw" in ignored


def test_image_reports_its_health_and_keeps_lake_and_instance_on_volumes():
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*)$", DOCKERFILE, re.MULTILINE | re.DOTALL).group(1)
    assert "http://127.0.0.1:3000/server_info" in healthcheck
    assert 'VOLUME ["/app/data_lake", "/app/dagster_home"]' in DOCKERFILE
    assert "ENV" in DOCKERFILE and "DAGSTER_HOME=/app/dagster_home" in DOCKERFILE
    documented = re.search(r"^#\s+(docker run .*)$", DOCKERFILE, re.MULTILINE).group(1)
    assert "-v recsys-lake:/app/data_lake" in documented and "-v recsys-instance:/app/dagster_home" in documented
