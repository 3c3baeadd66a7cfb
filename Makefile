# The two set-up commands of the README: `make build` (the whole pipeline on the embedded
# sample) and `make test`. Both install uv and the locked environment when missing.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export OPENBLAS_NUM_THREADS ?= 1
RECSYS_LAKE_DIR ?= data_lake
PORT ?= 8000

.PHONY: build test ui env check-defs serve

$(UV):
	python3 -m pip install --user --quiet uv

# --compile-bytecode: packages are installed with their bytecode. Where PYTHONDONTWRITEBYTECODE is
# set (our build machines) Python would otherwise compile torch, dagster, ... from source in every
# process (the CLI, the step forkserver, steps that import transformers or Great Expectations),
# which about doubles the time to import the code location (README, Nightly builds). It also
# compiles a venv made without it, once.
# The CPU torch wheel goes to .wheels/ first (deploy/torch_wheel.py: a local copy where there is one,
# else the PyTorch CPU index; sha256-checked either way), where uv.lock looks for it.
env: $(UV)
	python3 deploy/torch_wheel.py --dest .wheels
	$(UV) sync --locked --all-groups --compile-bytecode

build: env
	@mkdir -p $(DAGSTER_HOME)
	$(UV) run --locked dg launch --job build_all

test: env
	$(UV) run --locked pytest

# dg dev = the webserver and the daemon (schedule, sensor, run queue) on the code location of [tool.dg].
ui: env
	@mkdir -p $(DAGSTER_HOME)
	$(UV) run --locked dg dev -h 127.0.0.1 -p 3000

# Loads the code location the way every Dagster process does, and validates every definition.
check-defs: env
	@mkdir -p $(DAGSTER_HOME)
	$(UV) run --locked dg check defs

# The serving app (serving/) over the lake's newest published build; a new build is picked up
# without a restart. `PORT=8080 make serve` for another port, RECSYS_LAKE_DIR for another lake.
serve: env
	PORT=$(PORT) $(UV) run --locked python -m serving --lake $(RECSYS_LAKE_DIR) --port $(PORT)
