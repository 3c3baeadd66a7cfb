# The project with its lock and a CPU torch; runs the Dagster webserver and daemon.
# Build: docker build -t fashion-recsys .
# Run:   docker run -p 3000:3000 -v $PWD/data_lake:/app/data_lake fashion-recsys
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    DAGSTER_HOME=/app/dagster_home \
    RECSYS_LAKE_DIR=/app/data_lake \
    PATH=/opt/venv/bin:$PATH

# libgomp: OpenMP runtime for faiss, implicit and torch.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
# The lock resolves torch from a CPU wheel folder ([tool.uv] find-links = /opt/wheels): put the
# CPU wheel there (CI machines have it; elsewhere `pip download torch==2.13.0+cpu` first).
COPY wheels/ /opt/wheels/
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY pipelines/ pipelines/
COPY assets/ assets/
COPY resources/ resources/
COPY recsys/ recsys/
COPY workspace.yaml README.md ./
COPY data_lake/raw/ data_lake/raw/
RUN uv sync --locked --no-dev && mkdir -p "$DAGSTER_HOME"

EXPOSE 3000
# The daemon runs schedules and sensors; the webserver serves the UI. One container, two processes.
CMD ["bash", "-c", "dagster-daemon run -w workspace.yaml & exec dagster-webserver -w workspace.yaml -h 0.0.0.0 -p 3000"]
