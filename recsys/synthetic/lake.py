"""Write a whole synthetic raw lake: catalogs, images and events, streaming and in parallel.

Layout written under ``<out>/raw/`` (the formats of the real sample; see catalog_rows.py):

    asos/asos-00000.csv ...               + asos/images/<product code>.jpg
    myntra/styles/styles-00000.csv ...    + myntra/images/<id>.jpg
    myntra/catalog/catalog-00000.csv ...
    events/events-00000.parquet|csv ...
    synthetic.json                        what was generated and what ingestion must make of it

The lake is built in ``<out>/.raw.partial`` and renamed to ``<out>/raw`` at the end, so a
crashed run never leaves a half lake behind. Memory stays bounded: one product chunk and one user
chunk at a time, a bounded queue of image jobs (drawn by worker processes while the main
process writes CSV and events), plus a few bytes of attributes per product for event sampling.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import resource
import shutil
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import polars as pl

from recsys.synthetic.catalog_rows import HEADERS, CatalogTally, render_chunk
from recsys.synthetic.events import CatalogAttributes, EventSampler, EventTally
from recsys.synthetic.images import ImageJob, write_images
from recsys.synthetic.products import MAX_PRODUCTS, chunk_bounds, product_chunk

log = logging.getLogger(__name__)

SUMMARY_FILE = "synthetic.json"
CSV_FILES: dict[str, tuple[str, str]] = {           # source -> (folder under raw/, file prefix)
    "asos": ("asos", "asos"),
    "myntra_styles": ("myntra/styles", "styles"),
    "myntra_catalog": ("myntra/catalog", "catalog"),
}
IMAGE_DIRS = ("asos/images", "myntra/images")
IMAGES_PER_JOB = 1_000


@dataclass(frozen=True)
class SyntheticLakeSettings:
    products: int
    users: int
    seed: int = 0
    events_per_user: float = 20.0
    quirk_rate: float = 0.01            # probability of each quirk kind per row (see catalog_rows / events)
    chunk_size: int = 5_000             # products per chunk (the unit of determinism and of memory)
    shard_size: int = 50_000            # products per CSV file per source (rounded to whole chunks)
    user_chunk_size: int = 20_000       # users per events file
    events_format: str = "parquet"      # parquet | csv
    images: bool = True
    image_size: tuple[int, int] = (96, 128)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)   # 0: draw images in this process

    def __post_init__(self) -> None:
        if not 0 < self.products <= MAX_PRODUCTS:
            raise ValueError(f"products must be in 1..{MAX_PRODUCTS}, got {self.products}")
        if self.users < 0 or self.events_per_user < 1 or not 0 <= self.quirk_rate <= 0.1:
            raise ValueError("need users >= 0, events_per_user >= 1 and 0 <= quirk_rate <= 0.1")
        if self.events_format not in ("parquet", "csv"):
            raise ValueError(f"events_format must be parquet or csv, got {self.events_format!r}")


@dataclass
class LakeSummary:
    config: SyntheticLakeSettings
    catalog: CatalogTally
    events: EventTally
    seconds: dict[str, float]
    bytes_written: dict[str, int]
    peak_rss_mb: dict[str, float]

    def rates(self) -> dict[str, float]:
        records = sum(self.catalog.records.values())
        return {
            "catalog_rows_per_s": records / max(self.seconds["catalog"], 1e-9),
            "images_per_s": self.catalog.images / max(self.seconds["images"], 1e-9) if self.catalog.images else 0.0,
            "events_per_s": self.events.rows / max(self.seconds["events"], 1e-9) if self.events.rows else 0.0,
        }

    def expected_quarantine(self) -> dict[str, dict[str, int]]:
        """source -> reason code -> rows the catalog ingestion must quarantine."""
        out: dict[str, dict[str, int]] = {}
        for key, count in sorted(self.catalog.quarantine.items()):
            source, reason = key.split("|")
            out.setdefault(source, {})[reason] = count
        return out

    def to_json(self) -> dict:
        config = asdict(self.config)
        return {
            "config": config,
            "products": dict(self.catalog.products), "records": dict(self.catalog.records),
            "blank_lines": dict(self.catalog.blank_lines), "quirks": dict(sorted(self.catalog.quirks.items())),
            "expected_quarantine": self.expected_quarantine(), "images": self.catalog.images,
            "events": {"rows": self.events.rows, "users": self.events.users, "kinds": dict(self.events.kinds),
                       "expected_quarantine": dict(self.events.quarantine)},
            "seconds": self.seconds, "rates": self.rates(), "bytes_written": self.bytes_written,
            "peak_rss_mb": self.peak_rss_mb,
        }


class _ShardWriters:
    """One open CSV per source; a new file every ``chunks_per_shard`` chunks."""

    def __init__(self, raw: Path, chunks_per_shard: int):
        self.raw, self.chunks_per_shard = raw, chunks_per_shard
        self.shard = -1
        self.files: dict[str, TextIO] = {}
        self.bytes = 0

    def write(self, chunk_index: int, lines: dict[str, list[str]]) -> None:
        shard = chunk_index // self.chunks_per_shard
        if shard != self.shard:
            self.close()
            self.shard = shard
        for source, source_lines in lines.items():
            if not source_lines:
                continue
            if source not in self.files:
                folder, prefix = CSV_FILES[source]
                handle = open(self.raw / folder / f"{prefix}-{shard:05d}.csv", "w", encoding="utf-8", newline="")
                handle.write(",".join(HEADERS[source]) + "\n")
                self.files[source] = handle
            text = "".join(source_lines)
            self.files[source].write(text)
            self.bytes += len(text)

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()
        self.files = {}


class _ImagePool:
    """Image jobs in worker processes (or inline with no workers).

    The queue is not bounded: a job is a few numbers (see ImageJob), so the main process goes on
    to write the rest of the catalog and the events while the workers draw.
    """

    def __init__(self, workers: int):
        self.executor = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                         if workers > 0 else None)
        self.pending: deque[Future] = deque()
        self.files = self.bytes = 0
        self.started: float | None = None

    def submit(self, job: ImageJob) -> None:
        self.started = self.started or time.perf_counter()
        if self.executor is None:
            self._count(write_images(job))
            return
        while self.pending and self.pending[0].done():
            self._count(self.pending.popleft().result())
        self.pending.append(self.executor.submit(write_images, job))

    def _count(self, result: tuple[int, int]) -> None:
        self.files += result[0]
        self.bytes += result[1]

    def finish(self) -> float:
        """Wait for every job; returns seconds since the first job was submitted."""
        while self.pending:
            self._count(self.pending.popleft().result())
        if self.executor is not None:
            self.executor.shutdown()
        return time.perf_counter() - self.started if self.started else 0.0

    def cancel(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def _write_catalogs(raw: Path, config: SyntheticLakeSettings, images: _ImagePool) -> tuple[CatalogTally, CatalogAttributes, int]:
    tally = CatalogTally()
    attributes = CatalogAttributes.empty(config.products)
    writers = _ShardWriters(raw, max(1, config.shard_size // config.chunk_size))
    bounds = chunk_bounds(config.products, config.chunk_size)
    started = time.perf_counter()
    try:
        for index, (lo, hi) in enumerate(bounds):
            chunk = product_chunk(config.seed, index, lo, hi)
            attributes.fill(chunk)
            rendered = render_chunk(chunk, config.seed, index, config.quirk_rate)
            writers.write(index, rendered.lines)
            tally.add(rendered.tally)
            if config.images:
                for first in range(0, len(rendered.images), IMAGES_PER_JOB):
                    images.submit(ImageJob(config.seed, index, lo, hi, config.quirk_rate, first,
                                           first + IMAGES_PER_JOB, str(raw), config.image_size))
            rate = hi / max(time.perf_counter() - started, 1e-9)
            log.info("catalog: %d/%d products (%.0f products/s), images drawn %d", hi, config.products, rate,
                     images.files)
    finally:
        writers.close()
    if not config.images:
        tally.images = 0
    return tally, attributes, writers.bytes


def _write_events(raw: Path, config: SyntheticLakeSettings, attributes: CatalogAttributes) -> tuple[EventTally, int]:
    tally = EventTally()
    sampler = EventSampler(attributes, config.seed)
    written = 0
    started = time.perf_counter()
    for index, first in enumerate(range(0, config.users, config.user_chunk_size)):
        users = min(config.user_chunk_size, config.users - first)
        frame, chunk_tally = sampler.chunk(index, first, users, config.events_per_user, config.quirk_rate)
        path = raw / "events" / f"events-{index:05d}.{config.events_format}"
        if config.events_format == "parquet":
            frame.write_parquet(path)
        else:
            frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
        written += path.stat().st_size
        tally.add(chunk_tally)
        log.info("events: %d/%d users, %d rows (%.0f rows/s)", first + users, config.users, tally.rows,
                 tally.rows / max(time.perf_counter() - started, 1e-9))
    return tally, written


def generate_lake(out: Path | str, config: SyntheticLakeSettings, overwrite: bool = False) -> LakeSummary:
    """Write ``<out>/raw/`` for ``config``; returns what was written and how fast."""
    out = Path(out)
    final = out / "raw"
    if final.exists() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(f"{final} exists and is not empty (pass overwrite=True / --overwrite to replace it)")
    partial = out / ".raw.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for folder in [*(f for f, _ in CSV_FILES.values()), *IMAGE_DIRS, "events"]:
        (partial / folder).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    images = _ImagePool(config.workers if config.images else 0)
    try:
        catalog, attributes, csv_bytes = _write_catalogs(partial, config, images)
        catalog_seconds = time.perf_counter() - started
        events_started = time.perf_counter()
        events, event_bytes = _write_events(partial, config, attributes) if config.users else (EventTally(), 0)
        events_seconds = time.perf_counter() - events_started
        image_seconds = images.finish()
    except BaseException:
        images.cancel()
        raise
    summary = LakeSummary(
        config=config, catalog=catalog, events=events,
        seconds={"catalog": catalog_seconds, "events": events_seconds, "images": image_seconds,
                 "total": time.perf_counter() - started},
        bytes_written={"catalog_csv": csv_bytes, "images": images.bytes, "events": event_bytes},
        peak_rss_mb={"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024},
    )
    (partial / SUMMARY_FILE).write_text(json.dumps(summary.to_json(), indent=2, default=list) + "\n")
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    rates = summary.rates()
    log.info("synthetic lake at %s: %d products, %d images, %d events in %.1fs (%.0f rows/s, %.0f images/s)",
             final, config.products, images.files, events.rows, summary.seconds["total"],
             rates["catalog_rows_per_s"], rates["images_per_s"])
    return summary
