"""The image cache run catalog shard by catalog shard (images/manifest_shards): one manifest per shard,
every shard's files in the one shared store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from recsys.embeddings.shards import products_in_shard
from recsys.images.cache import CacheResult, CacheSettings, update_image_cache
from recsys.images.local import LocalFiles
from recsys.images.progress import Progress
from recsys.images.remote import HttpFetcher
from recsys.images.store import ImageStore


@dataclass(frozen=True)
class ShardedCacheRun:
    manifest: pl.DataFrame        # the shards' manifests, in shard order
    products: pl.DataFrame        # the shards' products (product_id, image_urls)
    work: Counter                 # what the run did, summed over shards (CacheStats.work_counts)
    manifests_written: int        # shards whose manifest changed


def update_shard_caches(catalog: pl.DataFrame, shards: Sequence[str], shard_count: int, *, store: ImageStore,
                        local: LocalFiles, remote: HttpFetcher, settings: CacheSettings,
                        on_progress: Callable[[str, Progress], None] | None = None,
                        on_shard: Callable[[str, CacheResult], None] | None = None) -> ShardedCacheRun:
    """``update_image_cache`` over the products of each of ``shards`` (of ``shard_count``), one after
    the other; ``on_shard(shard, result)`` hears of each finished shard."""
    manifests, products, work, written = [], [], Counter(), 0
    for shard in shards:
        products.append(products_in_shard(catalog, shard, shard_count))
        result = update_image_cache(
            products[-1], store=store, local=local, remote=remote, settings=settings, shard=shard,
            on_progress=(lambda progress, shard=shard: on_progress(shard, progress)) if on_progress else None)
        manifests.append(result.manifest)
        written += result.manifest_written
        work.update(result.stats.work_counts())
        if on_shard is not None:
            on_shard(shard, result)
    return ShardedCacheRun(pl.concat(manifests), pl.concat(products), work, written)
