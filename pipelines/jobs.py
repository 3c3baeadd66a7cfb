"""Jobs: the full build of every asset (what the nightly schedule and the README run)."""

import dagster as dg

# Steps run in their own processes, at most two at a time: the machine this targets has two cores,
# and two torch/FAISS steps side by side already fill its memory bandwidth. The forkserver imports
# the code location once, so a step starts in a fraction of a second instead of re-importing torch
# (~5 s). It is named explicitly: with `dagster job execute -m ...` Dagster's default preload is only
# `dagster`, and every step paid the import again.
LOCAL_EXECUTOR = dg.multiprocess_executor.configured(
    {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": ["pipelines.definitions"]}}},
    name="local_multiprocess",
)


def build_all_job(executor_def: dg.ExecutorDefinition = LOCAL_EXECUTOR):
    """build_all with ``executor_def``; deploy/k8s swaps in k8s_job_executor (one pod per step)."""
    return dg.define_asset_job(
        "build_all",
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("raw"),
        description="Build every table from the raw catalogs: ingestion, images, embeddings, models, index, gold tables, evaluation.",
        executor_def=executor_def,
    )


build_all = build_all_job()
