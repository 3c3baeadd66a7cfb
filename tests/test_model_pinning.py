"""Nightly builds reuse the pinned ALS and two-tower models until the retrain policy says otherwise."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.models import als_model, two_tower_model
from resources import default_resources
from tests.helpers import MODELS_RUN_CONFIG, build_models_lake, metadata_of

MODELS = [["models", "als"], ["models", "two_tower"]]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_models_lake(tmp_path_factory.mktemp("pinning") / "lake")


def _files(lake, name):
    return {p.name: p.read_bytes() for p in (lake / "models" / name).iterdir() if p.is_file()}


@pytest.mark.slow
def test_a_second_build_reuses_both_models_and_force_retrains_them(built):
    lake, _, first = built
    assert first.success
    for key in MODELS:
        assert metadata_of(first, key)["retrained"].value is True
    before = {name: _files(lake, name) for name in ("als", "two_tower")}
    resources = default_resources(str(lake))

    models_only = {"ops": {op: cfg for op, cfg in MODELS_RUN_CONFIG["ops"].items() if op.startswith("models__")}}
    again = dg.materialize([als_model, two_tower_model], resources=resources, run_config=models_only)
    assert again.success
    for key in MODELS:
        meta = metadata_of(again, key)
        assert meta["retrained"].value is False and meta["retrain_decision"].value.startswith("pinned")
    assert {name: _files(lake, name) for name in ("als", "two_tower")} == before
    assert metadata_of(again, ["models", "two_tower"])["validation"].value == \
        metadata_of(first, ["models", "two_tower"])["validation"].value

    forced = {"ops": {op: {"config": {**cfg["config"], "retrain": {"force": True}}}
                      for op, cfg in models_only["ops"].items()}}
    third = dg.materialize([als_model, two_tower_model], resources=resources, run_config=forced)
    assert third.success
    assert all(metadata_of(third, key)["retrain_decision"].value == "forced by config" for key in MODELS)
