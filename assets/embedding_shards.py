"""features/item_embedding_shards: the item embeddings computed shard by shard, one partition each.

For catalogs too large for one process: the products split into a fixed set of shards by a stable
hash of their id (``recsys.embeddings.shards``; the partitions are assets/catalog_shards.py's), and
each shard's vectors are one partition of this asset. A shard reads the images of its own image
shard (images/manifest_shards, same partition; the full images/manifest until that shard ran).
An asset backfill of every shard (the UI: Materialize, all partitions) becomes runs of
``SHARDS_PER_RUN`` shards each (one process start per run, not per shard), which the run queue runs
side by side (two on the local instance, one pod each on Kubernetes). ``features/item_embeddings``
then reuses every vector the shards encoded and encodes only what they did not cover. The nightly
build does not need it: it already encodes only new or changed content.

    # one run over shards 0..3, image shards then embedding shards, in this process
    # (start a second one for 4..7 beside it)
    dagster job execute -m pipelines.definitions -j embed_shards \
        --tags '{"dagster/asset_partition_range_start": "0", "dagster/asset_partition_range_end": "3"}'
    # a job backfill: one queued run per shard (job backfills do not read the asset's backfill policy)
    dagster job backfill -m pipelines.definitions -j embed_shards --all all --noprompt
"""

import time

import dagster as dg
import polars as pl

from assets import keys
from assets.catalog_shards import CATALOG_SHARDS, SHARD_BACKFILL, SHARD_COUNT
from assets.embeddings import GROUP, ItemEmbeddingsConfig, product_embedder
from recsys import storage
from recsys.embeddings.shards import products_in_shard
from recsys.images import ImageStore, manifest_file, primary_images
from resources import LakeResource
from resources.encoders import EncoderResource


@dg.asset(
    code_version="2026-12-07",
    key=keys.ITEM_EMBEDDING_SHARDS,
    group_name=GROUP,
    deps=[keys.SILVER_PRODUCTS, keys.IMAGE_MANIFEST,
          dg.AssetDep(keys.IMAGE_MANIFEST_SHARDS, partition_mapping=dg.IdentityPartitionMapping()), keys.IMAGE_TOWER],
    partitions_def=CATALOG_SHARDS,
    backfill_policy=SHARD_BACKFILL,
    kinds={"pytorch", "parquet"},
    description=f"features/item_embedding_shards/<shard>.parquet: the item_embeddings rows of one of {SHARD_COUNT} "
                "catalog shards (a stable hash of product_id), their images from the same shard's "
                "images/manifest_shards manifest (images/manifest until it exists). Reused by "
                "features/item_embeddings; run by the embed_shards job to spread a large catalog's image "
                "caching and encoding over processes or machines.",
)
def item_embedding_shards(context: dg.AssetExecutionContext, config: ItemEmbeddingsConfig, lake: LakeResource,
                          encoder: EncoderResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    catalog = lake.read(keys.SILVER_PRODUCTS)
    embed = product_embedder(lake, encoder.load(lake.path(keys.IMAGE_TOWER)), config)
    shard_images = _ShardImages(lake)
    rows = texts = images = 0
    for shard in context.partition_keys:
        path = f"{keys.lake_path(keys.ITEM_EMBEDDING_SHARDS)}/{shard}"
        build = embed(products_in_shard(catalog, shard, SHARD_COUNT), shard_images.primary(shard),
                      lake.read_if_exists(path))
        lake.write(build.table, path)
        rows, texts, images = rows + build.table.height, texts + build.texts_encoded, images + build.images_encoded
        context.log.info("shard %s: %d products, encoded %d texts + %d images, reused %d + %d (%.1fs so far)", shard,
                         build.table.height, build.texts_encoded, build.images_encoded, build.texts_reused,
                         build.images_reused, time.perf_counter() - started)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows, "shards": ", ".join(context.partition_keys),
        "outcome": f"encoded {texts} texts + {images} images in {len(context.partition_keys)} shards",
        "texts_encoded": texts, "images_encoded": images,
        "image_manifests": shard_images.used,
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(lake.path(keys.ITEM_EMBEDDING_SHARDS))),
    })


class _ShardImages:
    """Each shard's primary images: from its image shard's manifest, or, where that shard has not
    run, from the full images/manifest (read once per run)."""

    def __init__(self, lake: LakeResource):
        self.lake = lake
        self.store = ImageStore(lake.root_path)
        self.used: dict[str, str] = {}       # shard -> the manifest its images came from (run metadata)
        self._full: pl.DataFrame | None = None

    def primary(self, shard: str) -> pl.DataFrame:
        path = manifest_file(self.store, shard)
        if path.exists():
            self.used[shard] = str(path.relative_to(self.lake.root_path))
            return primary_images(storage.read_parquet(path))
        if self._full is None:
            self._full = primary_images(self.lake.read(keys.IMAGE_MANIFEST))
        self.used[shard] = str(self.lake.table_path(keys.IMAGE_MANIFEST).relative_to(self.lake.root_path))
        return self._full
