"""The Dagster code location: one Definitions merged from what each stage module registers.

Every module in ``assets/`` is loaded, so a new stage only adds its own module there.
"""

import dagster as dg

import assets
from pipelines.automation import build_failure_sensor, nightly_schedule, raw_files_sensor
from pipelines.jobs import build_all, embed_shards, user_list_shards
from resources import default_resources

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=dg.load_assets_from_package_module(assets),
        asset_checks=dg.load_asset_checks_from_package_module(assets),
    ),
    dg.Definitions(jobs=[build_all, embed_shards, user_list_shards], schedules=[nightly_schedule()], sensors=[raw_files_sensor, build_failure_sensor]),
    dg.Definitions(resources=default_resources()),
)
