"""Build or update the image cache for a product table.

For each product, image URLs are considered in ``image_urls`` order until
``images_per_product`` of them are ok (a broken first image falls back to the second, ...).
Each URL is processed at most once per run, whatever the number of products listing it, and
not at all when the previous manifest already answers for it:

* ok, and its normalized file is still in the store (local files: same size and mtime);
* a permanent failure (not_found, corrupt, refused, ...; local files: unchanged);
* a retryable failure (unreachable, timeout, server_error, error) younger than ``retry_after``.

So a second run on unchanged inputs decodes nothing, makes no request and leaves the manifest
file untouched. The previous outcomes are those of every manifest in the store, the full one and
each catalog shard's (``manifests/<shard>.parquet``), per URL the latest: the full build after
shard runs decodes nothing they decoded, and a shard run after a full build nothing it decoded.

Local files are decoded by ``workers`` threads, or worker processes when there are at least
``processes_from`` of them (decode_pool.py); remote URLs are fetched on the fetcher's own
``concurrency`` threads, at the same time, both starting while the rest of the URLs are still
being planned.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from recsys import storage
from recsys.images.decode_pool import LocalDecoders
from recsys.images.hosts import HostDown
from recsys.images.local import FileVersion, LocalFiles, is_local_ref
from recsys.images.manifest import build_manifest, ok_paths, outcomes_by_url
from recsys.images.outcome import RETRYABLE, ImageRejected, Outcome, Status
from recsys.images.processing import Done, ImageProcessor, Job, clip
from recsys.images.progress import Progress, ProgressReporter
from recsys.images.remote import HttpFetcher
from recsys.images.store import ImageStore

MANIFEST_FILE = "manifest.parquet"
SHARD_MANIFESTS = "manifests"   # <store>/manifests/<shard>.parquet: one catalog shard's manifest each


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class CacheSettings:
    images_per_product: int = 1          # ok images wanted per product; later URLs are fallbacks
    max_pixels: int = 40_000_000         # larger images are recorded as bombs, never decoded
    workers: int = 0                     # local-file decoders (threads or processes); 0: one per core
    processes_from: int = 2000           # this many local files or more: decoders are processes (their start-up pays off)
    retry_after: timedelta = timedelta(hours=6)  # cool-down before a retryable failure is retried
    refetch: frozenset[Status] = frozenset()     # statuses to process again regardless (limits changed)
    prune_orphans: bool = True           # delete stored files no manifest row points to


@dataclass
class CacheStats:
    rows: int = 0                 # manifest rows (product, url) considered
    urls: int = 0                 # distinct URLs considered
    reused: int = 0               # answered by the previous manifest
    local_processed: int = 0      # local files read this run
    remote_processed: int = 0     # remote URLs handled this run (including ones skipped as host-down)
    normalized: int = 0           # images validated / decoded this run (0 on a rerun with nothing new)
    reencoded: int = 0            # of those, re-encoded as JPEG (the others were kept byte for byte)
    requests: int = 0             # HTTP requests made this run
    bytes_read: int = 0           # original bytes read this run
    new_by_status: Counter = field(default_factory=Counter)  # statuses of URLs processed this run
    worker_cpu_seconds: float = 0.0  # CPU of decode worker processes (not in this process's own)

    def work_counts(self) -> dict[str, int]:
        """What this run did, counted the way a reader of the UI asks about it."""
        return {"reused from the manifests": self.reused, "local files read": self.local_processed,
                "remote URLs handled": self.remote_processed, "HTTP requests": self.requests,
                "images decoded": self.normalized}


@dataclass
class CacheResult:
    manifest: pl.DataFrame
    manifest_path: Path
    manifest_written: bool        # False when the run changed nothing
    stats: CacheStats
    pruned: int
    hosts_down: dict[str, HostDown]
    progress: Progress


def update_image_cache(products: pl.DataFrame, *, store: ImageStore, local: LocalFiles, remote: HttpFetcher,
                       settings: CacheSettings, shard: str | None = None, now: datetime | None = None,
                       on_progress: Callable[[Progress], None] | None = None) -> CacheResult:
    """Bring ``<store>/manifest.parquet`` and the stored files up to date with ``products``
    (columns ``product_id``, ``image_urls``). Never raises for a bad image or URL.

    With ``shard``, ``products`` is one catalog shard and the manifest written is
    ``<store>/manifests/<shard>.parquet``: under that file's own lock, with the store's lock
    shared, so runs of different shards go side by side; a shard run never prunes. Without it the
    run holds the store alone and prunes (``settings.prune_orphans``) every file that neither its
    manifest nor any shard manifest names."""
    manifest_path = manifest_file(store, shard)
    with _holding(store, shard, manifest_path):
        previous = storage.read_parquet(manifest_path) if manifest_path.exists() else None
        others = [_lake_relative(storage.read_parquet(path), local) for path in manifest_files(store)
                  if path != manifest_path]
        run = _CacheRun(store, local, remote, settings, now or datetime.now(timezone.utc), on_progress)
        wanted = products["image_urls"].explode().drop_nulls()
        manifest = run.build(products, outcomes_by_url(*others, _lake_relative(previous, local), urls=wanted))
        written = previous is None or not manifest.equals(previous)
        if written:
            storage.write_parquet_atomic(manifest, manifest_path)
        pruned = 0
        if shard is None and settings.prune_orphans:
            pruned = store.prune(ok_paths(manifest, *others))
        return CacheResult(manifest, manifest_path, written, run.stats, pruned, remote.breaker.hosts_down(),
                           run.progress.finish())


def _lake_relative(manifest: pl.DataFrame | None, local: LocalFiles) -> pl.DataFrame | None:
    """``manifest`` plus its ``file://`` rows again under the lake-relative reference of their file:
    a manifest written before the catalog stored local images that way names them by absolute URI,
    and its outcomes still answer for the same files (a build after the change decodes nothing again)."""
    if manifest is None or not manifest["url"].str.starts_with("file:").any():
        return manifest
    uris = manifest.filter(pl.col("url").str.starts_with("file:"))
    relative = uris.with_columns(pl.col("url").map_elements(local.lake_reference, return_dtype=pl.String))
    return pl.concat([manifest, relative.filter(pl.col("url") != uris["url"])])


def manifest_file(store: ImageStore, shard: str | None = None) -> Path:
    """The full manifest, or catalog shard ``shard``'s (``shard`` is a plain name such as ``3``)."""
    if shard is None:
        return store.root / MANIFEST_FILE
    if not shard or "/" in shard or shard.startswith("."):
        raise ValueError(f"a shard is named by a plain file name, got {shard!r}")
    return store.root / SHARD_MANIFESTS / f"{shard}.parquet"


def manifest_files(store: ImageStore) -> list[Path]:
    """Every manifest in the store: the full one (when built) and each shard's."""
    full = store.root / MANIFEST_FILE
    return [*([full] if full.exists() else []), *sorted((store.root / SHARD_MANIFESTS).glob("*.parquet"))]


@contextmanager
def _holding(store: ImageStore, shard: str | None, manifest_path: Path) -> Iterator[None]:
    """The full build holds the store alone (it prunes); a shard run holds its own manifest and
    shares the store with the other shards' runs."""
    if shard is None:
        with store.lock():
            yield
    else:
        with storage.exclusive_lock(manifest_path.with_name(f".{shard}.lock")), store.lock(shared=True):
            yield


class _CacheRun:
    def __init__(self, store: ImageStore, local: LocalFiles, remote: HttpFetcher, settings: CacheSettings,
                 now: datetime, on_progress: Callable[[Progress], None] | None):
        self.store = store
        self.local = local
        self.remote = remote
        self.processor = ImageProcessor(store, local, settings.max_pixels, now)
        self.settings = settings
        self.now = now
        self.stats = CacheStats()
        self.progress = ProgressReporter(on_progress)

    def build(self, products: pl.DataFrame, previous: dict[str, Outcome]) -> pl.DataFrame:
        image_lists = [(pid, urls) for pid, urls in products.select("product_id", "image_urls").iter_rows()
                       if urls]
        wanted = max(1, self.settings.images_per_product)
        decided: dict[str, Outcome] = {}
        ok_images: Counter = Counter()
        rows: list[tuple[str, int, str, Outcome]] = []
        longest = max((len(urls) for _, urls in image_lists), default=0)
        for position in range(longest):
            considered = [(pid, urls[position]) for pid, urls in image_lists
                          if position < len(urls) and ok_images[pid] < wanted]
            fresh = list(dict.fromkeys(url for _, url in considered if url not in decided))
            decided.update(self._decide(fresh, previous))
            for pid, url in considered:
                outcome = decided[url]
                rows.append((pid, position, url, outcome))
                ok_images[pid] += outcome.ok
        self.stats.rows = len(rows)
        self.stats.urls = len(decided)
        return build_manifest(rows)

    def _decide(self, urls: list[str], previous: dict[str, Outcome]) -> dict[str, Outcome]:
        """Outcomes for ``urls``: reused from ``previous`` where it still answers, else processed
        (local files are being decoded, and remote ones fetched, while the rest is still planned)."""
        outcomes: dict[str, Outcome] = {}
        workers = self.settings.workers or default_workers()
        with LocalDecoders(self.processor, workers, self.settings.processes_from) as decoders, \
                ThreadPoolExecutor(self.remote.settings.concurrency, thread_name_prefix="image-fetch") as net:
            fetches = []
            for url in urls:
                earlier = previous.get(url)
                if not is_local_ref(url):
                    if self._reusable(earlier, local=False, version=None):
                        outcomes[url] = earlier
                    else:
                        job = Job(url, earlier)
                        fetches.append(net.submit(lambda job=job: [self.processor.safely(job, self._remote, False)]))
                    continue
                try:
                    file = self.local.locate(url)
                except ImageRejected as refused:  # decided by the URL alone: no file is read
                    same = earlier is not None and earlier.status is Status.REFUSED and earlier.error == str(refused)
                    outcomes[url] = earlier if same else Outcome(Status.REFUSED, self.now, error=str(refused))
                    continue
                if self._reusable(earlier, local=True, version=file.version):
                    outcomes[url] = earlier
                else:
                    decoders.add(Job(url, earlier, file))
            self.stats.reused += sum(outcome is previous.get(url) for url, outcome in outcomes.items())
            decoders.close()
            self.progress.expect(decoders.added + len(fetches))
            for future in as_completed([*decoders.futures, *fetches]):
                done = future.result()
                for one in done:
                    self._count(one)
                    outcomes[one.url] = one.outcome
                self.progress.advance(len(done))
        self.stats.worker_cpu_seconds += decoders.worker_cpu_seconds
        return outcomes

    def _reusable(self, earlier: Outcome | None, local: bool, version: FileVersion | None) -> bool:
        if earlier is None or earlier.status in self.settings.refetch:
            return False
        if local:
            seen = None if earlier.source_mtime_ns is None else FileVersion(earlier.bytes, earlier.source_mtime_ns)
            if seen != version:
                return False
        if earlier.ok:
            return self.store.has(earlier.path)
        if earlier.status in RETRYABLE:
            return self.now - earlier.fetched_at < self.settings.retry_after
        return True

    def _count(self, done: Done) -> None:
        stats = self.stats
        stats.local_processed += done.local
        stats.remote_processed += not done.local
        stats.normalized += done.normalized
        stats.reencoded += done.reencoded
        stats.requests += done.requests
        stats.bytes_read += done.bytes_read
        stats.new_by_status[done.outcome.status.value] += 1

    def _remote(self, job: Job) -> Done:
        try:
            download = self.remote.fetch(job.url)
        except ImageRejected as rejected:
            outcome = Outcome(rejected.status, self.now, attempts=job.attempts_before + rejected.attempts,
                              error=clip(str(rejected)))
            return Done(job.url, outcome, local=False, requests=rejected.attempts)
        return self.processor.normalize_and_store(job, download.data, local=False, attempts=download.attempts)
