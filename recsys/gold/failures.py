"""gold/failed_builds: one row per build that failed, so a missing nightly can be read off the lake.

gold/builds only ever holds builds that finished; a failed run leaves the previous tables in place
(they are replaced only after their checks pass). This table says which run failed, when, in which
steps and why, for people and tools that read the lake rather than the Dagster instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

FAILED_BUILDS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "job": pl.String(),
    "failed_at": pl.Datetime("us", "UTC"),
    "failed_steps": pl.List(pl.String()),
    "message": pl.String(),
}
MAX_MESSAGE_CHARS = 2_000


@dataclass(frozen=True)
class FailedBuild:
    run_id: str
    job: str
    failed_at: datetime
    failed_steps: Sequence[str]
    message: str

    def summary(self) -> str:
        steps = ", ".join(self.failed_steps) or "no step (the run itself)"
        return f"build {self.run_id} ({self.job}) failed at {self.failed_at:%Y-%m-%d %H:%M:%S} UTC in {steps}: " \
               f"{self.message}"


def append_failure(previous: pl.DataFrame | None, failure: FailedBuild) -> pl.DataFrame:
    """The failed-builds table with ``failure`` added (replacing an earlier row of the same run)."""
    row = pl.DataFrame([{"run_id": failure.run_id, "job": failure.job, "failed_at": failure.failed_at,
                         "failed_steps": sorted(failure.failed_steps),
                         "message": failure.message[:MAX_MESSAGE_CHARS]}], schema=FAILED_BUILDS_SCHEMA)
    if previous is None or previous.is_empty():
        return row
    kept = previous.select(list(FAILED_BUILDS_SCHEMA)).cast(FAILED_BUILDS_SCHEMA).filter(
        pl.col("run_id") != failure.run_id)
    return pl.concat([kept, row]).sort("failed_at", maintain_order=True)
