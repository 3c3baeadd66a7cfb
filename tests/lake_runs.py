"""Run a build of a lake in its own process (for tests that kill it or run two at once).

    python -m tests.lake_runs LAKE [ASSET_KEY ...]

Materializes every asset (or the selected ones) with the end-to-end test's small config and the
in-process executor, logging each step start to stderr; exits 0 on success, 1 on failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg


def main(argv: list[str]) -> int:
    from tests.built_lake import ALL_ASSETS, RUN_CONFIG, offline_resources

    lake, *keys = argv
    selection = [dg.AssetKey(key.split("/")) for key in keys] or None
    result = dg.materialize(ALL_ASSETS, resources=offline_resources(Path(lake)), run_config=RUN_CONFIG,
                            selection=selection, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
