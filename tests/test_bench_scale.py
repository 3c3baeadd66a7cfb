"""The scaling benchmark's nightly: a night's change on the built lake, every step again, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from benchmarks import bench_scale

STEPS = ["silver_catalog", "silver__interactions"]


def _run(tmp_path: Path, *extra: str) -> dict:
    bench_scale.main(["--products", "300", "--users", "400", "--steps", *STEPS, "--work-dir", str(tmp_path / "work"),
                      "--out", str(tmp_path / "out"), "--workers", "1", *extra])
    return json.loads((tmp_path / "out" / "scale.json").read_text())


@pytest.mark.slow
def test_a_size_is_built_then_rebuilt_after_a_nights_change(tmp_path):
    size, = _run(tmp_path, "--nightly", "--keep-lakes")["sizes"]
    nightly = size["nightly"]
    assert nightly["change"]["catalog"] == {"new": 1, "changed": 1, "removed": 1}
    day = nightly["change"]["events"]
    assert day["active_users"] == 8 and day["new_users"] == 1
    assert day["rows"] == round(size["events"] * 0.01)
    assert [s["step"] for s in nightly["steps"]] == STEPS and nightly["all_steps_ok"]
    full, night = (next(s for s in steps if s["step"] == "silver_catalog")["metadata"]
                   for steps in (size["steps"], nightly["steps"]))
    assert full["silver/product_changes:new"] == 300 and night["silver/product_changes:changed"] == 1
    lake = tmp_path / "work" / "lake-300-400"
    events = pl.read_parquet(lake / "raw" / "events" / day["file"])
    interactions = (next(s for s in steps if s["step"] == "silver__interactions")["metadata"]["silver/interactions:users"]
                    for steps in (size["steps"], nightly["steps"]))
    assert list(interactions) == [400, 401]                     # the day's new shopper
    assert events.height == day["rows"] and events["user_id"].n_unique() == 8

    # --nightly-only: another night on the kept lake, into the same size's record
    again, = _run(tmp_path, "--nightly-only")["sizes"]
    assert again["steps"] == size["steps"] and again["nightly"]["change"]["events"]["file"] != day["file"]
    # --rerun-nightly: the steps of that nightly again (after a fix), no new change
    rerun, = _run(tmp_path, "--nightly-only", "--rerun-nightly")["sizes"]
    assert rerun["nightly"]["change"] == again["nightly"]["change"]
    assert [s.get("rerun") for s in rerun["nightly"]["steps"]] == [True, True]


def test_nightly_only_needs_a_measured_size_and_its_kept_lake(tmp_path):
    with pytest.raises(SystemExit, match="needs 300 x 400 in scale.json"):
        _run(tmp_path, "--nightly-only")
