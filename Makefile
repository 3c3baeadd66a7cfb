# The two set-up commands of the README: `make build` (the whole pipeline on the embedded
# sample) and `make test`. Both install uv and the locked environment when missing.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: build test ui env

$(UV):
	python3 -m pip install --user --quiet uv

env: $(UV)
	$(UV) sync --locked --all-groups

build: env
	@mkdir -p $(DAGSTER_HOME)
	$(UV) run --locked dagster job execute -m pipelines.definitions -j build_all

test: env
	$(UV) run --locked pytest

ui: env
	@mkdir -p $(DAGSTER_HOME)
	$(UV) run --locked dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000
