"""Jobs: the full build of every asset (what the nightly schedule and the README run)."""

import dagster as dg

from assets.embeddings import ITEM_EMBEDDING_SHARDS

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
        # The shards are partitioned (a job runs one partitions definition): embed_shards runs them.
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("raw") - dg.AssetSelection.assets(ITEM_EMBEDDING_SHARDS),
        description="Build every table from the raw catalogs: ingestion, images, embeddings, models, index, gold tables, evaluation.",
        executor_def=executor_def,
        tags={"recsys/run": "build"},     # the run queue runs one build at a time
    )


build_all = build_all_job()

# A range of shards per run (the asset's backfill policy: 4), in process (a run has one step); runs go
# side by side up to the run queue's limit (dagster_home/dagster.yaml), or one pod each on Kubernetes.
embed_shards = dg.define_asset_job(
    "embed_shards",
    selection=dg.AssetSelection.assets(ITEM_EMBEDDING_SHARDS),
    executor_def=dg.in_process_executor,
    tags={"recsys/run": "embed_shard"},
    description="Encode the catalog shard by shard (one partition per run); features/item_embeddings reuses it.",
)
