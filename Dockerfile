# syntax=docker/dockerfile:1.7
# The project with its lock and a CPU torch; runs the Dagster webserver and daemon.
#
#   docker build -t fashion-recsys .
#       downloads the CPU torch wheel the lock names and checks its sha256
#   docker build --build-context torch-wheel=/opt/wheels -t fashion-recsys .
#       offline: takes the wheel from a local folder instead (any folder holding the file)
#   docker build --target k8s -t fashion-recsys:k8s .
#       adds dagster-k8s and dagster-postgres for deploy/k8s (Helm chart, one pod per step)
#   docker run --init -p 3000:3000 -v recsys-lake:/app/data_lake -v recsys-instance:/app/dagster_home fashion-recsys
#       the lake and the Dagster instance (run history, schedule and sensor state) live on volumes, so a
#       recreated container keeps both; a named volume starts with the image's content (the raw sample,
#       dagster.yaml). A bind-mounted folder must be writable by uid 10001 (or add --user "$(id -u)"), and
#       a bind-mounted instance folder needs dagster_home/dagster.yaml copied into it.
#   docker run --init -p 8000:8000 -v recsys-lake:/app/data_lake fashion-recsys \
#       python -m serving --host 0.0.0.0 --port 8000
#       the serving app (REST API + browse page) over the lake's newest build, instead of Dagster

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG TORCH_WHEEL=torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl

# uv.lock resolves torch from the wheel folder .wheels/ ([tool.uv] find-links), by file name and
# without a hash: this stage provides exactly that file, checked here (the sha256 of
# deploy/torch_wheel.py, which does the same for `make env`). `--build-context
# torch-wheel=DIR` replaces the whole stage with a local folder (no download).
FROM scratch AS torch-wheel
ARG TORCH_WHEEL
ADD --checksum=sha256:6746dbcbeb526eb61330b76b41ff1b4eb848951103a892eeb080dfa2b264667b \
    https://download.pytorch.org/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl /${TORCH_WHEEL}

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    DAGSTER_HOME=/app/dagster_home \
    RECSYS_LAKE_DIR=/app/data_lake \
    PATH=/opt/venv/bin:$PATH

# libgomp1: implicit links the system OpenMP runtime (torch, faiss and scikit-learn bundle theirs).
# Not pinned: the base image tag fixes the Debian release, and its security updates should apply.
# The app runs as uid 10001; it owns only what it writes (the instance dir and the lake).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /app recsys

COPY --from=uv /uv /uvx /bin/
WORKDIR /app

# Dependencies first (a layer that only changes with the lock); the wheel is mounted, not copied.
COPY pyproject.toml uv.lock ./
RUN --mount=type=bind,from=torch-wheel,target=/app/.wheels \
    --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project

COPY README.md workspace.yaml ./
COPY pipelines/ pipelines/
COPY assets/ assets/
COPY resources/ resources/
COPY recsys/ recsys/
COPY serving/ serving/
COPY deploy/ deploy/
COPY --chown=10001:10001 dagster_home/dagster.yaml dagster_home/
COPY --chown=10001:10001 data_lake/raw/ data_lake/raw/
RUN --mount=type=bind,from=torch-wheel,target=/app/.wheels \
    --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev

USER 10001
VOLUME ["/app/data_lake", "/app/dagster_home"]
EXPOSE 3000 8000
# Healthy once the webserver answers; the daemon's death ends the container (CMD below).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/server_info', timeout=4)"]
# The daemon runs schedules, sensors and the run queue; the webserver serves the UI. If either
# exits, so does the container (wait -n), and a stop signal reaches both (kill 0).
CMD ["bash", "-c", "trap 'kill 0' TERM INT; dagster-daemon run -w workspace.yaml & dagster-webserver -w workspace.yaml -h 0.0.0.0 -p 3000 & wait -n; kill 0"]

# For deploy/k8s: the run launcher, the k8s executor and the chart's Postgres instance storage, from
# the lock's k8s dependency group (their versions follow dagster's: 1.13.27 -> 0.29.27).
FROM app AS k8s
USER 0
RUN --mount=type=bind,from=torch-wheel,target=/app/.wheels \
    --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --group k8s
USER 10001

# For deploy/celery on Kubernetes: Celery worker pods (deploy/celery/worker.sh) beside the chart's
# Postgres instance storage, from the lock's k8s and celery groups (uv sync keeps only the named groups).
FROM app AS celery
USER 0
RUN --mount=type=bind,from=torch-wheel,target=/app/.wheels \
    --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --group k8s --group celery
USER 10001
