"""Training curves as matplotlib figures (the assets embed them in their metadata)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def curve_figure(curve: Sequence[Mapping[str, Any]], x: str, left: Sequence[str], right: Sequence[str] = (),
                 title: str = "", baselines: Mapping[str, float] | None = None):
    """Metrics ``left`` (and ``right`` on a second axis) against ``x``; ``baselines`` are drawn as
    dashed horizontal lines on the left axis (e.g. popularity's recall on the same probe)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    xs = [point[x] for point in curve]
    for name in left:
        axis.plot(xs, [point.get(name) for point in curve], marker="o", label=name)
    for name, value in (baselines or {}).items():
        axis.axhline(value, linestyle="--", linewidth=1, color="grey")
        axis.annotate(name, (xs[0] if xs else 0, value), textcoords="offset points", xytext=(0, 3), fontsize=8)
    axis.set_xlabel(x)
    if right:
        twin = axis.twinx()
        for name in right:
            twin.plot(xs, [point.get(name) for point in curve], color="tab:red", linestyle=":", label=name)
        twin.set_ylabel(", ".join(right))
        twin.legend(loc="upper right", fontsize=8)
    axis.legend(loc="upper left", fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    return figure
