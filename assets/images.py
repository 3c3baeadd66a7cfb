"""The image cache: every product image fetched or read safely, normalized, stored by content hash."""

import time

import dagster as dg
import polars as pl

from assets import image_checks, keys, metadata
from assets.defaults import field_default
from recsys.images import ImageStore, primary_images, status_counts, update_image_cache
from recsys.images.cache import CacheResult, CacheSettings
from recsys.images.contact_sheet import contact_sheet
from recsys.images.health import counts_by_origin, local_failures_by_status, local_image_loss, manifest_health
from resources import LakeResource
from resources.images import ImageFetcherResource

GROUP = "images"
CONTACT_SHEET_IMAGES = 12


class ImageShardConfig(dg.Config):
    """What a run of the cache over catalog shards takes (images/manifest_shards)."""

    retry_after_hours: float = field_default(CacheSettings, "retry_after").total_seconds() / 3600
    """Retryable failures (unreachable, timeout, server_error, error) are retried by runs at least this much later."""
    refetch: list[str] = []
    """Statuses to process again regardless, e.g. ["too_large"] after raising max_bytes, ["refused"] after
    changing allowed_hosts."""
    systemic_local_failure_rate: float = 0.9
    """Blocking check: this share of the local image rows failing (or more) is a systemic fault (a lost mount,
    wrong permissions), not bad items. Fewer failures only warn: those products are served text-only."""
    max_local_image_loss: float = 0.5
    """Blocking check: the share of catalog products with an ok local image in the previous manifest that may
    have none now (more is a lost or moved image folder)."""


class ImageCacheConfig(ImageShardConfig):
    """The full run (images/manifest): also prunes, and checks the remote images."""

    prune_orphans: bool = field_default(CacheSettings, "prune_orphans")
    """Delete stored files that no manifest row (the full one or a shard's) points to any more."""
    max_remote_failure_rate: float = 0.2
    """Warning check: share of answered remote URLs whose answer is not a usable image."""
    max_remote_unreached_rate: float = 0.5
    """Warning check: share of remote URLs that may be unreachable (ignored in offline mode)."""


@dg.asset(
    code_version="2026-12-07",
    key=keys.IMAGE_MANIFEST,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS, keys.IMAGE_MANIFEST_SHARDS],
    kinds={"python", "pillow", "parquet"},
    description="images/manifest.parquet: one row per (product, image URL) considered, with its status; "
                "normalized JPEGs (longest side 320) under images/<sha[:2]>/<sha256>.jpg. Incremental: reuses "
                "every outcome of its previous manifest and of the catalog shards' (images/manifest_shards), "
                "then prunes stored files no manifest names.",
    check_specs=[
        *image_checks.check_specs(keys.IMAGE_MANIFEST, "everything downstream"),
        dg.AssetCheckSpec("remote_image_failures", asset=keys.IMAGE_MANIFEST, blocking=False,
                          description="Remote images: unusable answers and unreachable URLs within their limits "
                                      "(a warning: the network is not ours)."),
    ],
)
def image_manifest(context: dg.AssetExecutionContext, config: ImageCacheConfig, lake: LakeResource,
                   image_fetcher: ImageFetcherResource) -> dg.MaterializeResult:
    """Cache every product image: incremental by URL (local files also by size and mtime)."""
    started = time.perf_counter()
    products = lake.read(keys.SILVER_PRODUCTS).select("product_id", "image_urls")
    store = ImageStore(lake.root_path)
    settings = image_fetcher.cache_settings(config.retry_after_hours, config.refetch, config.prune_orphans)
    with image_fetcher.http() as http:
        result = update_image_cache(products, store=store, local=image_fetcher.local_files(lake.root_path),
                                    remote=http, settings=settings,
                                    on_progress=lambda progress: context.log.info("images: %s", progress))
    seconds = time.perf_counter() - started
    manifest, stats = result.manifest, result.stats
    health = manifest_health(manifest)
    if health.local_failed:
        context.log.warning("%d of %d local images failed (%s); their products are served text-only",
                            health.local_failed, health.local_rows, local_failures_by_status(manifest))
    context.log.info("image cache: %d rows, %d reused, %d local and %d remote processed, manifest %s in %.1fs",
                     stats.rows, stats.reused, stats.local_processed, stats.remote_processed,
                     "written" if result.manifest_written else "unchanged", seconds)
    loss = local_image_loss(image_checks.accepted_local_images(lake), manifest, products["product_id"])
    local_checks = image_checks.check_results(manifest, health, loss, config)
    image_checks.accept_local_images(lake, manifest, local_checks)
    return dg.MaterializeResult(
        metadata={**_cache_metadata(result, products, seconds),
                  "contact_sheet": _contact_sheet(lake, primary_images(manifest)),
                  "local_failure_rate": round(health.local_failure_rate, 4),
                  "local_images_lost": f"{loss.lost:,} of {loss.previously_ok:,} products with a local image before"},
        check_results=[*local_checks, _remote_check(health, config, image_fetcher.offline, sorted(result.hosts_down))],
    )


def _cache_metadata(result: CacheResult, products: pl.DataFrame, seconds: float) -> dict:
    """What the UI shows of a cache run: the manifest by status and origin, and what this run did."""
    manifest, stats = result.manifest, result.stats
    processed = stats.local_processed + stats.remote_processed
    ok_files = manifest.filter(pl.col("status") == "ok").unique("path")
    return {
        "dagster/row_count": manifest.height,
        "outcome": f"{stats.reused} reused, {stats.local_processed} local and {stats.remote_processed} remote "
                   f"processed",
        "products_with_images": products.filter(pl.col("image_urls").list.len() > 0).height,
        "products_with_cached_image": primary_images(manifest).height,
        "by_status": metadata.counts(status_counts(manifest), "status", "rows"),
        "by_origin": metadata.preview(counts_by_origin(manifest), rows=20),
        "this_run": metadata.counts({**stats.work_counts(), "re-encoded": stats.reencoded,
                                     **{f"new {status}": n for status, n in stats.new_by_status.most_common()}},
                                    "what", "count"),
        "hosts_down": {host: down.reason for host, down in sorted(result.hosts_down.items())},
        "manifest_written": result.manifest_written,
        "stored_files": ok_files.height,
        "original_bytes_of_cached": int(ok_files["bytes"].sum() or 0),
        "bytes_read_this_run": stats.bytes_read,
        "files_pruned": result.pruned,
        "seconds": round(seconds, 2),
        "urls_processed_per_second": round(processed / result.progress.seconds, 1) if processed else 0.0,
        "failures": metadata.preview(
            manifest.filter(pl.col("status") != "ok").unique("status", keep="first", maintain_order=True),
            ["product_id", "status", "error", "url"]),
        "preview": metadata.preview(manifest, ["product_id", "position", "status", "width", "height", "bytes",
                                               "path"]),
        "path": dg.MetadataValue.path(str(result.manifest_path)),
    }


def _remote_check(health, config: ImageCacheConfig, offline: bool, hosts_down: list[str]) -> dg.AssetCheckResult:
    content_ok = health.remote_content_failure_rate <= config.max_remote_failure_rate
    reach_ok = offline or health.remote_unreached_rate <= config.max_remote_unreached_rate
    if offline:
        reach = f"offline mode: {health.remote_network_failed:,} remote URLs not fetched"
    else:
        reach = (f"{health.remote_network_failed:,} of {health.remote_rows:,} remote URLs unreachable, timed out "
                 f"or 5xx" + (f" (hosts down: {', '.join(hosts_down)})" if hosts_down else ""))
    return dg.AssetCheckResult(
        check_name="remote_image_failures",
        passed=content_ok and reach_ok,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{reach}; {health.remote_content_failure_rate:.1%} of answered remote URLs unusable.",
        metadata={"remote_rows": health.remote_rows, "network_failures": health.remote_network_failed,
                  "content_failures": health.remote_content_failed,
                  "unreached_rate": round(health.remote_unreached_rate, 4),
                  "content_failure_rate": round(health.remote_content_failure_rate, 4)},
    )


def _contact_sheet(lake: LakeResource, primary: pl.DataFrame):
    if primary.is_empty():
        return "no cached image"
    step = max(1, primary.height // CONTACT_SHEET_IMAGES)
    sample = primary.gather_every(step).head(CONTACT_SHEET_IMAGES)
    sheet = contact_sheet([(pid, lake.path(path)) for pid, path in sample.select("product_id", "image_path").iter_rows()])
    if sheet is None:
        return "no readable cached image"
    return metadata.picture(sheet)
