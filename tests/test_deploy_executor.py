"""The local distributed path: build_all runs its steps in separate processes, two at a time."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.jobs import LOCAL_EXECUTOR, build_all

SUBSET = [dg.AssetKey(["silver", "products"]), dg.AssetKey(["silver", "quarantine"]),
          dg.AssetKey(["silver", "product_changes"]),
          dg.AssetKey(["images", "manifest"]), dg.AssetKey(["silver", "interactions"])]


def local_build_all() -> dg.JobDefinition:
    """Module-level, so worker processes can reconstruct the job."""
    from pipelines.definitions import defs
    return defs.resolve_job_def("build_all")


def test_build_all_runs_on_the_limited_multiprocess_executor():
    assert build_all.executor_def is LOCAL_EXECUTOR
    job = local_build_all()
    execution = dg.validate_run_config(job, {})["execution"]
    assert execution == {"local_multiprocess": {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": ["pipelines.step_preload"]}},
                                                "retries": {"enabled": {}}}}
    # a configured executor fixes its config: a run cannot raise the limit past what the machine holds
    asked_for_more = dg.validate_run_config(job, {"execution": {"config": {"max_concurrent": 8}}})["execution"]
    assert asked_for_more["local_multiprocess"]["max_concurrent"] == 2


@pytest.mark.slow
def test_steps_run_in_parallel_processes_on_the_tiny_lake(tiny_lake, monkeypatch):
    monkeypatch.setenv("RECSYS_LAKE_DIR", str(tiny_lake))
    with dg.instance_for_test() as instance:
        result = dg.execute_job(dg.reconstructable(local_build_all), instance=instance, asset_selection=SUBSET)
        assert result.success
        starts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
        step_pids = {e.step_key: e.pid for e in starts}
        assert set(step_pids) == {"silver_catalog", "images__manifest", "silver__interactions"}
        assert len(set(step_pids.values())) == 3        # one process per step
        # images and interactions both wait only for the catalog: with two slots they overlap
        spans: dict[str, dict[str, float]] = {}
        for record in instance.all_logs(result.run_id):
            kind = record.dagster_event.event_type if record.dagster_event else None
            if kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS):
                spans.setdefault(record.step_key, {})[kind.value] = record.timestamp
        first, second = spans["images__manifest"], spans["silver__interactions"]
        overlap = min(first["STEP_SUCCESS"], second["STEP_SUCCESS"]) - max(first["STEP_START"], second["STEP_START"])
        assert overlap > 0
    assert (tiny_lake / "silver" / "interactions.parquet").exists()
    assert (tiny_lake / "images" / "manifest.parquet").exists()
