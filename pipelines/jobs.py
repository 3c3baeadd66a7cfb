"""Jobs: the full build of every asset (what the nightly schedule and the README run)."""

import dagster as dg

from assets import keys

# The catalog-shard assets (assets/catalog_shards.py): partitioned, so outside build_all (a job runs
# one partitions definition); the embed_shards job runs them.
SHARD_ASSETS = dg.AssetSelection.assets(keys.IMAGE_MANIFEST_SHARDS, keys.ITEM_EMBEDDING_SHARDS)
# The user-shard asset (assets/user_shards.py): its own partitions, its own job.
USER_SHARD_ASSETS = dg.AssetSelection.assets(keys.USER_RECOMMENDATION_SHARDS)

# Steps run in their own processes, at most two at a time: the machine this targets has two cores,
# and two torch/FAISS steps side by side already fill its memory bandwidth. The forkserver imports
# the code location and the instance's storage modules once (pipelines/step_preload.py), so a step
# starts in a fraction of a second instead of re-importing torch and SQLAlchemy (README, Nightly
# builds). It is named explicitly: from the command line Dagster's default preload is only `dagster`.
LOCAL_EXECUTOR = dg.multiprocess_executor.configured(
    {"max_concurrent": 2, "start_method": {"forkserver": {"preload_modules": ["pipelines.step_preload"]}}},
    name="local_multiprocess",
)


def build_all_job(executor_def: dg.ExecutorDefinition = LOCAL_EXECUTOR, config: dict | None = None,
                  retry_policy: dg.RetryPolicy | None = None):
    """build_all with ``executor_def``; deploy/k8s swaps in k8s_job_executor (one pod per step), its
    default run ``config`` and a ``retry_policy`` for every step."""
    return dg.define_asset_job(
        "build_all",
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("raw") - SHARD_ASSETS - USER_SHARD_ASSETS,
        description="Build every table from the raw catalogs: ingestion, images, embeddings, models, index, gold tables, evaluation.",
        executor_def=executor_def,
        tags={"recsys/run": "build"},     # the run queue runs one build at a time
        config=config,
        op_retry_policy=retry_policy,
    )


build_all = build_all_job()

def shard_job(name: str, selection: dg.AssetSelection, run_kind: str, description: str):
    """A job over partitioned shard assets: a range of shards per run (the assets' backfill policy: 4),
    in process. Runs go side by side up to the run queue's limit (dagster_home/dagster.yaml), or one
    pod each on Kubernetes."""
    return dg.define_asset_job(name, selection=selection, executor_def=dg.in_process_executor,
                               tags={"recsys/run": run_kind}, description=description)


# The image shards, then the embedding shards of the same range, which read those shards' image
# manifests. One job rather than a sibling per stage: a run (or a pod) then takes its shards through
# both stages with one process start, and the embedding shards never wait on a queue for their images.
embed_shards = shard_job(
    "embed_shards", SHARD_ASSETS, "embed_shard",
    "Cache the images of, then encode, the catalog shard by shard (a range of partitions per run); "
    "images/manifest and features/item_embeddings reuse what the shards did.")

# gold/user_recommendations (build_all) then merges the user shards and carries their lists over.
user_list_shards = shard_job(
    "user_list_shards", USER_SHARD_ASSETS, "user_list_shard",
    "Build the user lists shard by shard (a range of partitions per run); gold/user_recommendations "
    "merges the shards and carries their lists over.")
