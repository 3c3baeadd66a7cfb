"""The Dagster code location: one Definitions merged from each stage module."""

from __future__ import annotations

import dagster as dg

from assets import catalog, raw
from pipelines.jobs import build_all
from resources import default_resources

stage_modules = [raw, catalog]

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=dg.load_assets_from_modules(stage_modules),
        asset_checks=dg.load_asset_checks_from_modules(stage_modules),
    ),
    dg.Definitions(jobs=[build_all]),
    dg.Definitions(resources=default_resources()),
)
