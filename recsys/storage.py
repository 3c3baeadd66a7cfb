"""Parquet files in the lake: atomic writes, tolerant reads.

A table is replaced by writing a sibling temporary file and renaming it over the target
(``os.replace`` is atomic on POSIX), so a reader sees the old file or the new one, never a
half-written one, and a crash mid-write leaves the previous table in place.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

# Row groups of ~128k rows keep point filters cheap for DuckDB/Spark readers while staying
# large enough for efficient scans; zstd is read by every mainstream Parquet reader.
ROW_GROUP_SIZE = 128 * 1024
COMPRESSION = "zstd"


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` (same file system) to write, then move over ``path`` with
    ``move_into_place``; removed when the block ends without having moved it (a failed build)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def move_into_place(staged: Path, path: Path) -> Path:
    """Rename a fully written (and synced) staged file over ``path``: readers see the old file or the new."""
    os.replace(staged, path)
    return Path(path)


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed over ``path`` when the block succeeds."""
    with staged_file(path) as tmp:
        yield tmp
        move_into_place(tmp, path)


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> Path:
    """Write ``df`` to ``path`` atomically (temp file in the same folder + rename)."""
    with _replacing(path) as tmp:
        df.write_parquet(tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_SIZE, statistics=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a small text file (JSON records, manifests) atomically, like ``write_parquet_atomic``."""
    with _replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def replace_dir_atomic(build: Path, target: Path) -> None:
    """Swap a fully built folder into place: the old folder is renamed aside, then removed.

    The swap holds the folder's lock exclusively: two builds swapping at once take turns (neither
    renames the other's folder away mid-swap; the last one wins whole), and a reader inside
    ``reading_dir`` finishes with the old folder before it moves.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(_swap_lock(target)):
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        if target.exists():
            os.replace(target, old)
        os.replace(build, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def reading_dir(target: Path) -> Iterator[Path]:
    """Hold a folder written by ``replace_dir_atomic`` still while its files are read.

    A folder's files are read one after another; without this a concurrent swap could leave the
    reader with the old config and the new weights, or no folder at all for a moment.
    """
    target = Path(target)
    try:
        handle = open(_swap_lock(target), "a+")
    except OSError:     # no parent folder yet, or a read-only lake: nothing is swapping it from here
        yield target
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        yield target     # closing the handle releases the lock


def _swap_lock(target: Path) -> Path:
    return target.parent / f".{target.name}.swap.lock"


def staging_dir(target: Path) -> Path:
    """A fresh temporary folder beside ``target`` (same file system, so renames are atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """A cross-process exclusive lock on ``lock_path`` (blocking)."""
    with _flock(lock_path, fcntl.LOCK_EX):
        yield


@contextmanager
def shared_lock(lock_path: Path) -> Iterator[None]:
    """A cross-process shared lock on ``lock_path`` (blocking): held by any number of processes at
    once, never while ``exclusive_lock`` holds the same path (each waits for the other)."""
    with _flock(lock_path, fcntl.LOCK_SH):
        yield


@contextmanager
def _flock(lock_path: Path, operation: int) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), operation)
        yield            # closing the handle releases the lock


def read_parquet(path: Path) -> pl.DataFrame:
    """Read a Parquet file or a folder of Parquet files (hive-partitioned or not)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table {path} does not exist yet: materialize the asset that builds it first")
    if path.is_dir():
        return pl.read_parquet(path / "**" / "*.parquet", hive_partitioning=True)
    return pl.read_parquet(path)
