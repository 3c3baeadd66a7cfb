"""Local images decoded in worker processes: the same results as on threads, failures recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from recsys.images import CacheSettings, HttpFetcher, HttpSettings, ImageStore, LocalFiles, update_image_cache
from recsys.images import decode_pool
from recsys.images.decode_pool import LocalDecoders
from recsys.images.processing import ImageProcessor, Job
from tests.image_samples import jpeg, png, png_bomb, truncated

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)
IN_PROCESSES = {"workers": 2, "processes_from": 0}
ON_THREADS = {"workers": 2, "processes_from": 1_000_000}


class DyingLocalFiles(LocalFiles):
    """Kills the worker process that reads ``die.jpg``, as a crash in a decoder would."""

    def read(self, file):
        if file.path.endswith("die.jpg"):
            os._exit(3)
        return super().read(file)


def _lake(root: Path) -> Path:
    images = root / "raw" / "shop" / "images"
    images.mkdir(parents=True)
    files = {"big.jpg": jpeg((600, 400)), "small.jpg": jpeg((224, 224), color=(10, 200, 10)),
             "copy.jpg": jpeg((224, 224), color=(10, 200, 10)), "turned.jpg": jpeg((300, 200), orientation=6),
             "alpha.png": png(), "broken.jpg": truncated(jpeg()), "bomb.jpg": png_bomb(),
             "huge.jpg": jpeg() + bytes(200_000), "empty.jpg": b"", "page.jpg": b"<html>not an image</html>"}
    for name, data in files.items():
        (images / name).write_bytes(data)
    return root


def _products(lake: Path) -> pl.DataFrame:
    names = sorted(p.name for p in (lake / "raw" / "shop" / "images").iterdir()) + ["gone.jpg"]
    urls = [[(lake / "raw" / "shop" / "images" / name).as_uri()] for name in names]
    return pl.DataFrame({"product_id": names + ["outside"], "image_urls": urls + [["file:///etc/passwd"]]})


def _run(lake: Path, products: pl.DataFrame, local: LocalFiles | None = None, now: datetime = NOW, **settings):
    with HttpFetcher(HttpSettings(offline=True)) as http:
        return update_image_cache(products, store=ImageStore(lake), local=local or LocalFiles(lake, 100_000),
                                  remote=http, settings=CacheSettings(**settings), now=now)


def _stored(lake: Path) -> dict[str, bytes]:
    return {p.relative_to(lake).as_posix(): p.read_bytes() for p in (lake / "images").glob("??/*.jpg")}


def test_processes_give_the_same_manifest_and_files_as_threads(tmp_path):
    threads_lake, processes_lake = _lake(tmp_path / "threads"), _lake(tmp_path / "processes")
    on_threads = _run(threads_lake, _products(threads_lake), **ON_THREADS)
    in_processes = _run(processes_lake, _products(processes_lake), **IN_PROCESSES)

    def comparable(manifest: pl.DataFrame) -> pl.DataFrame:  # the two lakes differ only in their folder
        folder = pl.col("url", "error").str.replace_all(r"/(threads|processes)/", "/")
        return manifest.drop("source_mtime_ns").with_columns(folder)

    assert comparable(in_processes.manifest).equals(comparable(on_threads.manifest))
    statuses = dict(in_processes.manifest.select("product_id", "status").iter_rows())
    assert statuses == {"alpha.png": "ok", "big.jpg": "ok", "bomb.jpg": "bomb", "broken.jpg": "corrupt",
                        "copy.jpg": "ok", "empty.jpg": "empty", "gone.jpg": "not_found", "huge.jpg": "too_large",
                        "outside": "refused", "page.jpg": "not_image", "small.jpg": "ok", "turned.jpg": "ok"}
    assert _stored(processes_lake) == _stored(threads_lake) and len(_stored(processes_lake)) == 4
    assert in_processes.stats.worker_cpu_seconds > 0 and on_threads.stats.worker_cpu_seconds == 0
    assert (in_processes.stats.normalized, in_processes.stats.reencoded) == (
        on_threads.stats.normalized, on_threads.stats.reencoded)


def test_a_rerun_in_processes_decodes_nothing(tmp_path):
    lake = _lake(tmp_path / "lake")
    first = _run(lake, _products(lake), **IN_PROCESSES)
    second = _run(lake, _products(lake), **IN_PROCESSES)
    assert second.stats.local_processed == 0 and second.stats.worker_cpu_seconds == 0
    assert not second.manifest_written and second.manifest.equals(first.manifest)


def test_a_dying_worker_fails_only_its_batch_and_a_rerun_retries_it(tmp_path, monkeypatch):
    lake = _lake(tmp_path / "lake")
    images = lake / "raw" / "shop" / "images"
    (images / "die.jpg").write_bytes(jpeg())
    products = pl.DataFrame({"product_id": ["a", "die", "b"],
                             "image_urls": [[(images / n).as_uri()] for n in ("big.jpg", "die.jpg", "small.jpg")]})
    monkeypatch.setattr(decode_pool, "LOCAL_BATCH", 1)
    first = _run(lake, products, local=DyingLocalFiles(lake, 100_000), **IN_PROCESSES)
    rows = {r["product_id"]: r for r in first.manifest.iter_rows(named=True)}
    assert (rows["a"]["status"], rows["b"]["status"]) == ("ok", "ok")
    assert rows["die"]["status"] == "error" and "died (exit code 3)" in rows["die"]["error"]
    assert rows["die"]["attempts"] == 1

    second = _run(lake, products, now=NOW + timedelta(days=1), **IN_PROCESSES)  # past the cool-down
    assert second.stats.local_processed == 1
    assert second.manifest.filter(pl.col("product_id") == "die")["status"].item() == "ok"


def test_a_worker_imports_neither_polars_nor_httpx():
    code = "import sys, recsys.images.decode_worker; print(sorted({'polars', 'httpx'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("settings", [ON_THREADS, {"workers": 1, "processes_from": 0}])
def test_small_runs_and_one_worker_stay_on_threads(tmp_path, settings):
    lake = _lake(tmp_path / "lake")
    assert _run(lake, _products(lake), **settings).stats.worker_cpu_seconds == 0


@pytest.mark.parametrize("processes_from", [3, 4])
def test_decoders_switch_to_processes_once_enough_jobs_are_added(tmp_path, monkeypatch, processes_from):
    lake = _lake(tmp_path / "lake")
    local = LocalFiles(lake, 100_000)
    jobs = [Job(url, None, local.locate(url)) for url in
            [(lake / "raw" / "shop" / "images" / n).as_uri() for n in ("big.jpg", "small.jpg", "broken.jpg")]]
    processor = ImageProcessor(ImageStore(lake), local, 40_000_000, NOW)
    monkeypatch.setattr(decode_pool, "LOCAL_BATCH", 1)
    with LocalDecoders(processor, 2, processes_from) as decoders:
        decoders.add(jobs[0])
        decoders.add(jobs[1])
        assert not decoders.in_processes and decoders.futures == []  # waiting for the decision
        decoders.add(jobs[2])
        decoders.close()
        statuses = [done.outcome.status.value for future in decoders.futures for done in future.result()]
    assert sorted(statuses) == ["corrupt", "ok", "ok"]
    assert decoders.in_processes is (processes_from == 3)             # all three, or none, in processes
    assert (decoders.worker_cpu_seconds > 0) is (processes_from == 3)
