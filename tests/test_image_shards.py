"""The image cache by catalog shard: shard runs side by side in one shared store, each writing its own
manifest; the full images/manifest run then reuses them all, and its prune waits for shard runs and
keeps every file a shard manifest names."""

from __future__ import annotations

import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.catalog import silver_catalog
from assets.catalog_shards import CATALOG_SHARDS, SHARD_COUNT
from assets.embedding_shards import _ShardImages, item_embedding_shards
from assets.image_shards import image_manifest_shards
from assets import keys
from assets.images import image_manifest
from pipelines.definitions import defs
from recsys.embeddings.shards import products_in_shard, shard_names
from recsys.images import (CacheSettings, HttpFetcher, HttpSettings, ImageStore, LocalFiles, manifest_file,
                           update_image_cache)
from recsys.images import processing as processing_module
from recsys.images.manifest import outcomes_by_url
from resources import ImageFetcherResource, LakeResource, default_resources

KEY_COLUMNS = ["product_id", "position", "url", "status", "sha256", "path"]
WAIT_S = 30     # how long a run waits for the other one before the test calls it serialized


@pytest.fixture
def lake(tiny_lake) -> Path:
    """The tiny lake with silver/products (its image URLs name files in this lake: it cannot be copied)."""
    assert dg.materialize([silver_catalog], resources=_resources(tiny_lake)).success
    return tiny_lake


def _resources(lake: Path) -> dict:
    return {**default_resources(str(lake)), "image_fetcher": ImageFetcherResource(offline=True)}


def _products(lake: Path) -> pl.DataFrame:
    return pl.read_parquet(lake / "silver" / "products.parquet").select("product_id", "image_urls")


def _shard_run(lake: Path, first: str, last: str) -> dg.ExecuteInProcessResult:
    """One run of a range of image shards, as a backfill (or embed_shards) starts it."""
    return dg.materialize([image_manifest_shards], resources=_resources(lake), tags={
        "dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})


def _this_run(result: dg.ExecuteInProcessResult, node: str) -> str:
    return result.asset_materializations_for_node(node)[0].metadata["this_run"].value


def test_images_and_embeddings_share_one_partitioning_and_one_job():
    assert image_manifest_shards.partitions_def is CATALOG_SHARDS is item_embedding_shards.partitions_def
    assert CATALOG_SHARDS.get_partition_keys() == shard_names(SHARD_COUNT)
    assert image_manifest_shards.backfill_policy == item_embedding_shards.backfill_policy
    mapping = item_embedding_shards.get_partition_mapping(keys.IMAGE_MANIFEST_SHARDS)
    assert isinstance(mapping, dg.IdentityPartitionMapping)
    graph = defs.resolve_asset_graph()
    assert keys.IMAGE_MANIFEST_SHARDS in graph.get(keys.IMAGE_MANIFEST).parent_keys        # images/manifest reuses the shards
    shard_job = set(defs.resolve_job_def("embed_shards").asset_layer.executable_asset_keys)
    assert keys.IMAGE_MANIFEST_SHARDS in shard_job
    assert keys.IMAGE_MANIFEST_SHARDS not in set(defs.resolve_job_def("build_all").asset_layer.executable_asset_keys)


def test_the_shard_split_covers_every_product_once(lake):
    products = _products(lake)
    parts = [products_in_shard(products, shard, SHARD_COUNT)["product_id"] for shard in shard_names(SHARD_COUNT)]
    assert sum(len(part) for part in parts) == products.height
    assert sorted(pl.concat(parts).to_list()) == sorted(products["product_id"].to_list())
    assert all(len(part) for part in parts)       # the tiny catalog reaches every shard


def test_shard_runs_side_by_side_then_the_full_run_decodes_nothing(lake, monkeypatch):
    assert dg.materialize([image_manifest], resources=_resources(lake)).success
    unsharded = pl.read_parquet(lake / "images" / "manifest.parquet")
    # A shard run after a full build reuses it: nothing decoded.
    assert "| images decoded | 0 |" in _this_run(_shard_run(lake, "0", "0"), "images__manifest_shards")
    shutil.rmtree(lake / "images")                # from scratch: only the shards will have cached anything

    # The first file each run stores waits until the other run has stored one too: runs that were
    # serialized (an exclusive lock per shard run) would each time out and record an error.
    meeting, claim = threading.Barrier(2, timeout=WAIT_S), threading.Lock()
    original_put = ImageStore.put

    def put_after_meeting(store: ImageStore, data: bytes):
        with claim:
            first = not getattr(store, "_met", False)
            store._met = True
        if first:
            meeting.wait()
        return original_put(store, data)

    monkeypatch.setattr(ImageStore, "put", put_after_meeting)
    half = SHARD_COUNT // 2
    names = shard_names(SHARD_COUNT)
    results = {}
    runs = [threading.Thread(target=lambda r=r: results.update({r: _shard_run(lake, *r)}))
            for r in ((names[0], names[half - 1]), (names[half], names[-1]))]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    monkeypatch.setattr(ImageStore, "put", original_put)
    assert [result.success for result in results.values()] == [True, True]
    assert not meeting.broken

    shards = {shard: pl.read_parquet(lake / "images" / "manifests" / f"{shard}.parquet") for shard in names}
    products = _products(lake)
    for shard, manifest in shards.items():
        assert set(manifest["product_id"]) == set(
            products_in_shard(products, shard, SHARD_COUNT).filter(pl.col("image_urls").list.len() > 0)["product_id"])
        assert all((lake / path).is_file() for path in manifest.filter(pl.col("status") == "ok")["path"])
    assert pl.concat(shards.values())["product_id"].n_unique() == sum(m["product_id"].n_unique() for m in shards.values())

    def no_decoding(*args, **kwargs):
        raise AssertionError("the full run decoded an image the shards had cached")

    monkeypatch.setattr(processing_module, "normalize_image", no_decoding)
    full = dg.materialize([image_manifest], resources=_resources(lake))
    assert full.success
    this_run = _this_run(full, "images__manifest")
    assert "| images decoded | 0 |" in this_run and "| local files read | 0 |" in this_run
    resharded = pl.read_parquet(lake / "images" / "manifest.parquet")
    assert resharded.select(KEY_COLUMNS).equals(unsharded.select(KEY_COLUMNS))
    assert (resharded["status"] == "ok").sum() > 0
    assert full.asset_materializations_for_node("images__manifest")[0].metadata["files_pruned"].value == 0


def test_a_prune_waits_for_a_shard_run_and_keeps_its_files(lake):
    products = _products(lake)
    stored, release = threading.Event(), threading.Event()

    class PausingStore(ImageStore):
        """Stops after its first stored file, before the run has recorded it in a manifest."""

        def put(self, data: bytes):
            stored_as = super().put(data)
            if not stored.is_set():
                stored.set()
                release.wait(WAIT_S)
            return stored_as

    outcomes = {}

    def cache(name: str, store: ImageStore, shard_products: pl.DataFrame, shard: str | None) -> None:
        with HttpFetcher(HttpSettings(offline=True)) as http:
            outcomes[name] = update_image_cache(shard_products, store=store, local=LocalFiles(lake, 20 << 20),
                                                remote=http, settings=CacheSettings(workers=1), shard=shard)

    shard = threading.Thread(target=cache, args=("shard", PausingStore(lake), products_in_shard(products, "0", 8), "0"))
    shard.start()
    assert stored.wait(WAIT_S)
    orphan = lake / "images" / "ff" / ("f" * 64 + ".jpg")      # a file no manifest names: the prune's to delete
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left over")
    # The full run prunes everything no manifest names; the shard's first file is named by none yet.
    full = threading.Thread(target=cache, args=("full", ImageStore(lake), products.clear(), None))
    full.start()
    full.join(0.5)
    assert full.is_alive()                       # waiting for the shard run to let go of the store
    release.set()
    shard.join()
    full.join()

    shard_manifest = outcomes["shard"].manifest
    kept = shard_manifest.filter(pl.col("status") == "ok")["path"].to_list()
    assert kept and all((lake / path).is_file() for path in kept)
    assert outcomes["full"].manifest.is_empty() and outcomes["full"].pruned == 1 and not orphan.exists()


def test_shard_runs_share_the_store_lock_and_the_exclusive_one_waits(tmp_path):
    entered = {"shared": threading.Event(), "exclusive": threading.Event()}

    def take(kind: str) -> None:
        with ImageStore(tmp_path).lock(shared=kind == "shared"):
            entered[kind].set()

    with ImageStore(tmp_path).lock(shared=True):
        beside = threading.Thread(target=take, args=("shared",))
        prune = threading.Thread(target=take, args=("exclusive",))
        beside.start()
        assert entered["shared"].wait(WAIT_S)            # a second shard run goes in at once
        prune.start()
        assert not entered["exclusive"].wait(0.3)        # the pruning run waits for the shard runs
    prune.join()
    beside.join()
    assert entered["exclusive"].is_set()


def test_runs_of_one_shard_take_turns_on_its_manifest(tmp_path):
    """Two runs of the same shard share the store but not the shard's manifest (read-merge-replace)."""
    from recsys.images.cache import _holding

    store = ImageStore(tmp_path)
    entered = {"3": threading.Event(), "4": threading.Event()}

    def run(shard: str) -> None:
        with _holding(store, shard, manifest_file(store, shard)):
            entered[shard].set()

    with _holding(store, "3", manifest_file(store, "3")):
        same, other = threading.Thread(target=run, args=("3",)), threading.Thread(target=run, args=("4",))
        same.start()
        other.start()
        assert entered["4"].wait(WAIT_S)             # another shard goes in meanwhile
        assert not entered["3"].wait(0.3)            # the same shard waits
    same.join()
    other.join()
    assert entered["3"].is_set()


def test_the_latest_outcome_of_a_url_wins_across_manifests():
    now = datetime(2026, 1, 2, tzinfo=timezone.utc)

    def manifest(status: str, at: datetime) -> pl.DataFrame:
        return pl.DataFrame({"product_id": ["p"], "position": [0], "url": ["https://x/a.jpg"], "status": [status],
                             "fetched_at": [at], "attempts": [1]}).with_columns(
            pl.lit(None).alias(c) for c in ("sha256", "path", "format", "width", "height", "bytes", "error",
                                            "source_mtime_ns"))

    older, newer = manifest("unreachable", now - timedelta(hours=1)), manifest("not_found", now)
    assert outcomes_by_url(older, newer)["https://x/a.jpg"].status.value == "not_found"
    assert outcomes_by_url(newer, older)["https://x/a.jpg"].status.value == "not_found"
    assert outcomes_by_url(older, newer, urls=pl.Series(["https://x/b.jpg"])) == {}     # a shard's own URLs only
    assert outcomes_by_url(None, pl.DataFrame()) == {}


def test_a_shard_is_a_plain_name():
    store = ImageStore(Path("/lake"))
    assert manifest_file(store, "3") == Path("/lake/images/manifests/3.parquet")
    assert manifest_file(store) == Path("/lake/images/manifest.parquet")
    for bad in ("", "../3", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            manifest_file(store, bad)


def test_an_embedding_shard_reads_its_image_shards_manifest(tmp_path):
    def manifest(path: str) -> pl.DataFrame:
        return pl.DataFrame({"product_id": ["a"], "position": [0], "status": ["ok"], "path": [path],
                             "sha256": [path[-3:]]})

    (tmp_path / "images" / "manifests").mkdir(parents=True)
    manifest("images/full").write_parquet(tmp_path / "images" / "manifest.parquet")
    manifest("images/shard0").write_parquet(tmp_path / "images" / "manifests" / "0.parquet")
    images = _ShardImages(LakeResource(root=str(tmp_path)))
    assert images.primary("0")["image_path"].to_list() == ["images/shard0"]
    assert images.primary("1")["image_path"].to_list() == ["images/full"]      # shard 1 has not run: the full one
    assert images.used == {"0": "images/manifests/0.parquet", "1": "images/manifest.parquet"}
