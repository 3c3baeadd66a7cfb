"""Jobs: the full build of every asset (what the nightly schedule and the README run)."""

import dagster as dg

build_all = dg.define_asset_job(
    "build_all",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("raw"),
    description="Build every table from the raw catalogs: ingestion, images, embeddings, models, index, gold tables, evaluation.",
)
