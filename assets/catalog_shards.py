"""The catalog shards as Dagster partitions, shared by every partitioned stage.

``images/manifest_shards`` and ``features/item_embedding_shards`` partition the catalog the same
way (``recsys.embeddings.shards``: a stable hash of ``product_id``), so one shard's image run and
embedding run cover the same products and a run can take a range of shards through both.
"""

import warnings

import dagster as dg

from recsys.embeddings.shards import shard_names

SHARD_COUNT = 8     # a cluster: up to eight pods at once
SHARDS_PER_RUN = 4  # two cores: a whole backfill is two runs, side by side
CATALOG_SHARDS = dg.StaticPartitionsDefinition(shard_names(SHARD_COUNT))
# An asset backfill of every shard (the UI: Materialize, all partitions) becomes runs of
# SHARDS_PER_RUN shards each: one process start per run, not per shard.
SHARD_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN)
# The asset decorator's backfill_policy parameter is marked beta; the shard assets rely on it on
# purpose (above), so its warning would only repeat that in every process's log.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
