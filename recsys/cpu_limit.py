"""How many CPUs this process may really use: the cores it may run on, capped by its cgroup's CPU
quota (a Kubernetes pod's CPU limit, `docker run --cpus`).

``os.cpu_count()`` reports the node's cores; a pod limited to 4 CPUs on a 64-core node that sizes
its thread pools from it gets throttled. A thread setting of 0 means "what this returns".
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _quota_v2(root: Path) -> float | None:
    """cgroup v2: ``cpu.max`` is "<quota> <period>" or "max <period>"."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _quota_v1(root: Path) -> float | None:
    """cgroup v1: ``cpu.cfs_quota_us`` (-1: none) over ``cpu.cfs_period_us``."""
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota <= 0 or period <= 0 else quota / period
    return None


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Cores this process may run on, capped by the cgroup CPU quota (rounded up); at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    quota = _quota_v2(cgroup_root)
    if quota is None:
        quota = _quota_v1(cgroup_root)
    return max(1, min(cores, math.ceil(quota)) if quota is not None else cores)


def resolve_threads(requested: int, cgroup_root: Path = CGROUP_ROOT) -> int:
    """``requested`` threads, or every usable CPU for 0."""
    if requested < 0:
        raise ValueError(f"threads must be 0 (every usable CPU) or more, not {requested}")
    return requested or usable_cpus(cgroup_root)
