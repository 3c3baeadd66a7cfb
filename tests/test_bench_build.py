"""The build benchmark's own arithmetic: the critical path, the CPU seconds of a process tree and the
quality record it reads from the built lake."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.bench_build import TreeCpu, build_quality, critical_path, precision_run_config, upstream_steps


def _step(start: float, end: float) -> dict:
    return {"start_s": start, "end_s": end, "wall_s": end - start}


def test_the_critical_path_follows_the_upstream_step_that_ended_last():
    steps = {"load": _step(0, 5), "tower": _step(5, 100), "text": _step(5, 40), "vectors": _step(100, 150),
             "als": _step(5, 10), "lists": _step(150, 170), "side": _step(10, 20)}
    upstream = {"tower": {"load"}, "text": {"load"}, "als": {"load"}, "vectors": {"tower", "text"},
                "lists": {"vectors", "als"}, "side": {"als"}}
    assert critical_path(steps, upstream) == ["load", "tower", "vectors", "lists"]
    assert critical_path({}, upstream) == []


def test_build_all_steps_wait_on_their_upstream_steps():
    upstream = upstream_steps()
    assert "models__image_tower" in upstream["features__item_embeddings"]
    assert upstream["warehouse"] and not upstream["silver_catalog"]


def test_cpu_of_a_child_process_is_counted():
    burner = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', "
                               "'x = 0\\nfor i in range(30_000_000): x += i'])"])
    with TreeCpu(burner.pid, 0.05) as cpu:
        burner.wait()
    assert len(cpu.cpu) >= 2 and max(cpu.cpu.values()) > 0.3      # the grandchild did the work


def test_the_quality_record_reads_the_tower_scores_and_the_report_headline(tmp_path):
    tower = tmp_path / "models" / "image_tower"
    tower.mkdir(parents=True)
    (tower / "config.json").write_text(json.dumps({"training": {
        "precision": "bf16", "epochs": 10,
        "metrics": {"image_tower": {"text_to_image@10": 0.9533, "zero_shot_accuracy": 0.7733}}}}))
    report = tmp_path / "gold" / "evaluation" / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("# Evaluation report\n\n## Protocol\n- split by time\n\n## Headline\n"
                      "- Hybrid NDCG@10 (all users): **0.0963**: a real lead.\n- Coverage 0.0074.\n\n"
                      "## User recommendations\n- not a headline\n")
    quality = build_quality(tmp_path)
    assert quality["image_tower"] == {"precision": "bf16", "epochs": 10, "text_to_image@10": 0.9533,
                                      "zero_shot_accuracy": 0.7733}
    assert quality["evaluation_headline"] == ["Hybrid NDCG@10 (all users): **0.0963**: a real lead.",
                                              "Coverage 0.0074."]
    assert build_quality(tmp_path / "no lake") == {}


def test_the_precision_setting_is_a_valid_run_config_of_build_all():
    import dagster as dg

    from pipelines.definitions import defs

    job = defs.resolve_job_def("build_all")
    for precision in ("fp32", "bf16"):
        dg.validate_run_config(job, precision_run_config(precision))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, precision_run_config("fp64"))
