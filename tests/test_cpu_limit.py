"""Thread counts follow the CPU limit of the container, not the node's core count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recsys.cpu_limit import resolve_threads, usable_cpus

CORES = len(os.sched_getaffinity(0))


def _v2(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path: Path, quota: int, period: int) -> Path:
    folder = tmp_path / "cpu,cpuacct"
    folder.mkdir()
    (folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (folder / "cpu.cfs_period_us").write_text(f"{period}\n")
    return tmp_path


def test_a_cgroup_v2_quota_caps_the_cores(tmp_path: Path):
    assert usable_cpus(_v2(tmp_path, "50000 100000\n")) == 1          # half a CPU still gets one thread
    assert usable_cpus(_v2(tmp_path, f"{100000 * (CORES + 8)} 100000\n")) == CORES   # never above the cores


def test_a_cgroup_v1_quota_caps_the_cores(tmp_path: Path):
    assert usable_cpus(_v1(tmp_path, 100000, 100000)) == 1


@pytest.mark.parametrize("limit", ["max 100000\n", "garbage\n"])
def test_no_quota_or_an_unreadable_one_means_every_core(tmp_path: Path, limit: str):
    assert usable_cpus(_v2(tmp_path, limit)) == CORES
    assert usable_cpus(tmp_path / "no-cgroup-here") == CORES


def test_zero_threads_means_every_usable_cpu_and_other_values_stay(tmp_path: Path):
    limited = _v2(tmp_path, "100000 100000")
    assert resolve_threads(0, limited) == 1
    assert resolve_threads(3, limited) == 3
    with pytest.raises(ValueError, match="threads"):
        resolve_threads(-1, limited)
