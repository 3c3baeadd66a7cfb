"""gold/user_recommendation_shards: the user lists built shard by shard, one partition each.

For more users than one process can list: the users split into a fixed set of shards by a stable
hash of their id (``recsys.gold.user_shards``), each shard's lists one partition of this asset,
written to its own Parquet file with its own list state (each shard refreshes incrementally like
the whole table). An asset backfill of every shard becomes runs of ``SHARDS_PER_RUN`` shards each,
side by side (two on the local instance, one pod each on Kubernetes). ``gold/user_recommendations``
(build_all) then publishes them: it merges the shard files in table order and refreshes from them,
so every list of a shard that is up to date is carried over and the table and the warehouse are
the unsharded build's.

    dagster job execute -m pipelines.definitions -j user_list_shards \
        --tags '{"dagster/asset_partition_range_start": "0", "dagster/asset_partition_range_end": "3"}'
"""

import time

import dagster as dg

from assets import keys
from assets.catalog_shards import SHARD_BACKFILL, SHARD_COUNT
from assets.list_state import USER_SHARDS, previous_lists, publish_lists, shard_table
from assets.tables import GROUP, USER, UserRecommendationsConfig, list_inputs
from recsys import storage
from recsys.gold import UserSpace, build_user_recommendations
from recsys.gold.user_shards import shard_history, shard_vectors, users_in_shard
from resources import LakeResource

@dg.asset(
    code_version="2026-12-07",
    key=keys.USER_RECOMMENDATION_SHARDS,
    group_name=GROUP,
    deps=[keys.GOLD_PRODUCTS, keys.FAISS_INDEX, keys.ITEM_EMBEDDINGS, keys.INTERACTION_SPLIT, keys.ALS_MODEL,
          keys.TWO_TOWER_MODEL, keys.ITEM_TOWER_VECTORS, keys.HYBRID_WEIGHTS],
    partitions_def=USER_SHARDS,
    backfill_policy=SHARD_BACKFILL,
    kinds={"python", "faiss", "parquet"},
    description=f"shards/user_recommendations/<shard>.parquet: the gold/user_recommendations lists of one of "
                f"{SHARD_COUNT} user shards (a stable hash of user_id), refreshed incrementally from the shard's "
                "own state. gold/user_recommendations merges them in table order and carries their lists over; "
                "run by the user_list_shards job to spread a million users' lists over processes or machines.",
)
def user_recommendation_shards(context: dg.AssetExecutionContext, config: UserRecommendationsConfig,
                               lake: LakeResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    inputs = list_inputs(lake, USER.name, config)
    catalog, history, counts = inputs.catalog, inputs.history, {}
    for shard in context.partition_keys:
        users, table = users_in_shard(history, shard, SHARD_COUNT), shard_table(shard)
        with storage.staged_file(lake.table_path(table)) as staging:
            built = build_user_recommendations(
                catalog.products, shard_history(history, users), catalog.content, catalog.search,
                tower=_shard_space(inputs.tower, users), als=_shard_space(inputs.als, users),
                config=config.settings(inputs.weights), build_id=context.run.run_id, output=staging,
                previous=previous_lists(lake, table), exact_search=catalog.index_kind == "flat")
            publish_lists(lake, table, built)
        counts[shard] = built.plan.counts
        context.log.info("user shard %s: %d users, %s", shard, len(users), built.plan.counts)
    return dg.MaterializeResult(metadata={
        "shards": ", ".join(context.partition_keys),
        "users": sum(c["recomputed"] + c["carried_over"] for c in counts.values()),
        "lists_recomputed": sum(c["recomputed"] for c in counts.values()),
        "lists_carried_over": sum(c["carried_over"] for c in counts.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(lake.path(keys.USER_RECOMMENDATION_SHARDS))),
    })


def _shard_space(space: UserSpace | None, users) -> UserSpace | None:
    return None if space is None else UserSpace(shard_vectors(space.users, users), space.items)
