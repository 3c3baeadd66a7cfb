"""images/manifest_shards: the image cache run catalog shard by catalog shard, one partition each.

The same shards as features/item_embedding_shards (assets/catalog_shards.py). Each shard's run
caches the images of its products into the one shared content-addressed store and writes its own
manifest, ``images/manifests/<shard>.parquet``; runs of different shards go side by side (each
holds its own manifest's lock and shares the store's), and never prune. ``images/manifest`` then
reuses every outcome they recorded, and the embedding shard of the same partition reads its
shard's manifest. The embed_shards job runs both, image shard first:

    dagster job execute -m pipelines.definitions -j embed_shards \
        --tags '{"dagster/asset_partition_range_start": "0", "dagster/asset_partition_range_end": "3"}'
"""

import time

import dagster as dg

from assets import image_checks, keys, metadata
from assets.catalog_shards import CATALOG_SHARDS, SHARD_BACKFILL, SHARD_COUNT
from assets.images import GROUP, ImageShardConfig
from recsys.images import ImageStore, manifest_file, status_counts
from recsys.images.cache import CacheResult
from recsys.images.shards import update_shard_caches
from recsys.images.health import local_image_loss, manifest_health
from resources import LakeResource
from resources.images import ImageFetcherResource


@dg.asset(
    code_version="2026-12-07",
    key=keys.IMAGE_MANIFEST_SHARDS,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS],
    partitions_def=CATALOG_SHARDS,
    backfill_policy=SHARD_BACKFILL,
    kinds={"python", "pillow", "parquet"},
    description=f"images/manifests/<shard>.parquet: the images/manifest rows of one of {SHARD_COUNT} catalog shards "
                "(a stable hash of product_id), their files in the shared store images/<sha[:2]>/<sha256>.jpg. "
                "Shard runs go side by side and never prune; images/manifest reuses what they cached, and "
                "features/item_embedding_shards reads the same shard's manifest. Run by the embed_shards job.",
    check_specs=image_checks.check_specs(keys.IMAGE_MANIFEST_SHARDS, "the embedding shards"),
)
def image_manifest_shards(context: dg.AssetExecutionContext, config: ImageShardConfig, lake: LakeResource,
                          image_fetcher: ImageFetcherResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    store = ImageStore(lake.root_path)

    def shard_done(shard: str, result: CacheResult) -> None:
        stats = result.stats
        context.log.info("shard %s: %d rows, %d reused, %d local and %d remote processed (%.1fs so far)", shard,
                         stats.rows, stats.reused, stats.local_processed, stats.remote_processed,
                         time.perf_counter() - started)

    with image_fetcher.http() as http:
        run = update_shard_caches(
            lake.read(keys.SILVER_PRODUCTS).select("product_id", "image_urls"), context.partition_keys, SHARD_COUNT,
            store=store, local=image_fetcher.local_files(lake.root_path), remote=http,
            settings=image_fetcher.cache_settings(config.retry_after_hours, config.refetch, prune_orphans=False),
            on_progress=lambda shard, progress: context.log.info("images, shard %s: %s", shard, progress),
            on_shard=shard_done)
    manifest, work = run.manifest, run.work
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": manifest.height, "shards": ", ".join(context.partition_keys),
            "outcome": f"{work['reused from the manifests']} reused, {work['local files read']} local and "
                       f"{work['remote URLs handled']} remote processed in {len(context.partition_keys)} shards",
            "images_decoded": work["images decoded"], "local_files_read": work["local files read"],
            "manifests_written": run.manifests_written,
            "by_status": metadata.counts(status_counts(manifest), "status", "rows"),
            "this_run": metadata.counts(dict(work), "what", "count"),
            "seconds": round(time.perf_counter() - started, 2),
            "path": dg.MetadataValue.path(str(manifest_file(store, context.partition_keys[0]).parent)),
        },
        check_results=image_checks.check_results(
            manifest, manifest_health(manifest),
            local_image_loss(image_checks.accepted_local_images(lake), manifest, run.products["product_id"]), config),
    )
