"""The content-addressed image store: ``<lake>/images/<sha[:2]>/<sha256>.jpg``.

A file's name is the sha256 of its bytes, so the same picture listed by many products (or
many URLs) is stored once, a stored file never changes, and storing it twice is a no-op.

Files are created in place (``O_EXCL``) rather than written aside and renamed: creating a file
is most of the cache's cost after decoding, and the rename bought nothing here. No reader can
see a file being written, because readers only open files the manifest names, and the manifest
is replaced after every file it names is complete. A file left short by a crashed build is found
by its size when the same content is stored again, and replaced atomically.

The store's lock has two modes. The full build (``images/manifest``) holds it alone: its manifest's
read-merge-replace and the pruning of files no manifest names must not interleave with any other
run. Catalog-shard runs share it (each writes only its own manifest, under that manifest's own
lock), so they run side by side, and a prune never deletes a file a shard run has stored but not
yet recorded.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STORE_FOLDER = "images"
SUFFIX = ".jpg"


class ImageStore:
    def __init__(self, lake_root: Path, folder: str = STORE_FOLDER):
        self.lake_root = Path(lake_root)
        self.folder = folder
        self.root = self.lake_root / folder
        self._shards: set[str] = set()  # shard folders known to exist (saves a mkdir per image)

    def relative_path(self, sha256: str) -> str:
        """Lake-relative path of the file with this digest, e.g. ``images/ab/ab12...jpg``."""
        return f"{self.folder}/{sha256[:2]}/{sha256}{SUFFIX}"

    def absolute(self, relative: str) -> Path:
        return self.lake_root / relative

    def has(self, relative: str | None) -> bool:
        return relative is not None and self.absolute(relative).is_file()

    def put(self, data: bytes) -> tuple[str, str]:
        """Store ``data``; returns (sha256, lake-relative path). Safe from several threads and processes."""
        sha256 = hashlib.sha256(data).hexdigest()
        relative = self.relative_path(sha256)
        target = os.path.join(self.lake_root, relative)
        shard = os.path.dirname(target)
        if shard not in self._shards:
            os.makedirs(shard, exist_ok=True)
            self._shards.add(shard)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            if os.stat(target).st_size != len(data):  # left half-written by a crashed build
                self._replace(target, data)
            return sha256, relative
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            os.unlink(target)
            raise
        return sha256, relative

    @staticmethod
    def _replace(target: str, data: bytes) -> None:
        # Unique per thread and process: two decoders repairing the same file must not share a temp file.
        tmp = f"{os.path.dirname(target)}/.{os.path.basename(target)}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def stored_files(self) -> Iterator[str]:
        """The lake-relative path of every image file (and leftover temporary file) in the store."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as shards:
            for shard in shards:
                if len(shard.name) == 2 and shard.is_dir():
                    with os.scandir(shard.path) as files:
                        yield from (f"{self.folder}/{shard.name}/{file.name}" for file in files)

    def prune(self, keep: set[str]) -> int:
        """Delete stored files whose lake-relative path is not in ``keep``; returns how many."""
        removed = 0
        for relative in self.stored_files():
            if relative not in keep:
                self.absolute(relative).unlink(missing_ok=True)
                removed += 1
        return removed

    @contextmanager
    def lock(self, shared: bool = False) -> Iterator[None]:
        """Across processes. Exclusive: a second concurrent build waits for the first, then reuses
        what it cached (its manifest and prune must not interleave with another's). ``shared``: for
        runs that store files and never prune (catalog shards): any number at once, none beside an
        exclusive holder."""
        from recsys import storage  # here, not at the top: decode worker processes need no polars

        with (storage.shared_lock if shared else storage.exclusive_lock)(self.root / ".lock"):
            yield
