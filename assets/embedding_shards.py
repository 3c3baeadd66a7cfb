"""features/item_embedding_shards: the item embeddings computed shard by shard, one partition each.

For catalogs too large for one process: the products split into a fixed set of shards by a stable
hash of their id (``recsys.embeddings.shards``), and each shard's vectors are one partition of this
asset. An asset backfill of every shard (the UI: Materialize, all partitions) becomes runs of
``SHARDS_PER_RUN`` shards each (one process start per run, not per shard), which the run queue runs
side by side (two on the local instance, one pod each on Kubernetes). ``features/item_embeddings``
then reuses every vector the shards encoded and encodes only what they did not cover. The nightly
build does not need it: it already encodes only new or changed content.

    # one run over shards 0..3, in this process (start a second one for 4..7 beside it)
    dagster job execute -m pipelines.definitions -j embed_shards \
        --tags '{"dagster/asset_partition_range_start": "0", "dagster/asset_partition_range_end": "3"}'
    # a job backfill: one queued run per shard (job backfills do not read the asset's backfill policy)
    dagster job backfill -m pipelines.definitions -j embed_shards --all all --noprompt
"""

import time

import dagster as dg

from assets.catalog import PRODUCTS
from assets.embeddings import (GROUP, IMAGE_TOWER, ITEM_EMBEDDING_SHARDS, SHARDS_DIR, TOWER_DIR, ItemEmbeddingsConfig,
                               product_embedder)
from assets.images import MANIFEST
from recsys.embeddings.shards import products_in_shard, shard_names
from resources import LakeResource
from resources.encoders import EncoderResource

SHARD_COUNT = 8     # a cluster: up to eight pods at once
SHARDS_PER_RUN = 4  # two cores: a whole backfill is two runs, side by side
EMBEDDING_SHARDS = dg.StaticPartitionsDefinition(shard_names(SHARD_COUNT))


@dg.asset(
    key=ITEM_EMBEDDING_SHARDS,
    group_name=GROUP,
    deps=[PRODUCTS, MANIFEST, IMAGE_TOWER],
    partitions_def=EMBEDDING_SHARDS,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN),
    kinds={"pytorch", "parquet"},
    description=f"features/item_embedding_shards/<shard>.parquet: the item_embeddings rows of one of {SHARD_COUNT} "
                "catalog shards (a stable hash of product_id). Reused by features/item_embeddings; run by the "
                "embed_shards job to spread a large catalog's encoding over processes or machines.",
)
def item_embedding_shards(context: dg.AssetExecutionContext, config: ItemEmbeddingsConfig, lake: LakeResource,
                          encoder: EncoderResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    catalog = lake.read_table("silver/products")
    embed = product_embedder(lake, encoder.load(lake.path(TOWER_DIR)), config)
    rows = texts = images = 0
    for shard in context.partition_keys:
        path = f"{SHARDS_DIR}/{shard}"
        build = embed(products_in_shard(catalog, shard, SHARD_COUNT), lake.read_table_if_exists(path))
        lake.write_table(build.table, path)
        rows, texts, images = rows + build.table.height, texts + build.texts_encoded, images + build.images_encoded
        context.log.info("shard %s: %d products, encoded %d texts + %d images, reused %d + %d (%.1fs so far)", shard,
                         build.table.height, build.texts_encoded, build.images_encoded, build.texts_reused,
                         build.images_reused, time.perf_counter() - started)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows, "shards": ", ".join(context.partition_keys),
        "outcome": f"encoded {texts} texts + {images} images in {len(context.partition_keys)} shards",
        "texts_encoded": texts, "images_encoded": images,
        "seconds": round(time.perf_counter() - started, 1),
        "path": dg.MetadataValue.path(str(lake.path(SHARDS_DIR))),
    })
