"""Images on the local disk: ``file://`` URIs and lake-relative paths, confined to ``raw/``.

A path is resolved (symlinks followed, ``..`` collapsed) before the check, so neither
``file:///etc/passwd`` nor ``raw/x/../../secrets`` nor a symlink inside raw/ pointing out of it
is ever opened. Resolving is on the path of every planned image, so it is cheap: a folder is
resolved once per run, and a file costs one ``lstat`` (which is also its version), plus a full
resolve only when the file itself is a symlink.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from recsys.images.outcome import ImageRejected, Status

_REMOTE_PREFIXES = ("http://", "https://", "HTTP://", "HTTPS://")
# Characters that make urlsplit do more than strip "file://": a query or fragment, and the tab,
# CR and LF it deletes (WHATWG).
_NEEDS_URL_PARSER = frozenset("?#\t\r\n")


@dataclass(frozen=True)
class FileVersion:
    """What identifies a local file's content for incremental reruns."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class LocalFile:
    path: str                      # resolved, inside the allowed folder
    version: FileVersion | None    # None: no regular file there


def is_local_ref(url: str) -> bool:
    """``file:`` URIs and scheme-less (lake-relative) paths are local."""
    if url.startswith(_REMOTE_PREFIXES):
        return False
    if url[:5].lower() == "file:":  # what urlsplit would say, without its cost on every planned image
        return True
    scheme = urlsplit(url).scheme.lower()
    return scheme == "file" or scheme == ""


class LocalFiles:
    """Reads local image files under ``<lake>/raw`` with a byte limit (one instance per run)."""

    def __init__(self, lake_root: Path, max_bytes: int, allowed_folder: str = "raw"):
        self.lake_root = os.path.realpath(lake_root)
        # Resolved too: a raw/ that is itself a symlink (a big dataset mounted elsewhere) is fine.
        self.allowed_root = os.path.realpath(os.path.join(self.lake_root, allowed_folder))
        self.max_bytes = max_bytes
        self._real_dirs: dict[str, str] = {}

    def locate(self, url: str) -> LocalFile:
        """The resolved file behind a local reference; ImageRejected(refused) if it is not allowed."""
        if url.startswith("file:///") and not _NEEDS_URL_PARSER.intersection(url):
            # The common case, a plain absolute file URI: what urlsplit would give, at a tenth of its cost.
            return self._located(unquote(url[7:]) if "%" in url else url[7:])
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                raise ImageRejected(Status.REFUSED, f"file URI on another host {parts.netloc!r}")
            candidate = unquote(parts.path)
            if not os.path.isabs(candidate):
                raise ImageRejected(Status.REFUSED, "file URI without an absolute path")
        elif parts.scheme == "":
            candidate = os.path.join(self.lake_root, unquote(url))
        else:
            raise ImageRejected(Status.REFUSED, f"scheme {parts.scheme!r} is not a local file")
        return self._located(candidate)

    def _located(self, candidate: str) -> LocalFile:
        folder, name = os.path.split(candidate)
        if name in ("", ".", ".."):
            path = os.path.realpath(candidate)
        else:
            real_folder = self._real_dirs.get(folder)
            if real_folder is None:
                real_folder = self._real_dirs[folder] = os.path.realpath(folder)
            path = os.path.join(real_folder, name)
        self._check_inside(path)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return LocalFile(path, None)
        if stat.S_ISLNK(info.st_mode):
            path = os.path.realpath(path)
            self._check_inside(path)
            try:
                info = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                return LocalFile(path, None)
        version = FileVersion(info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None
        return LocalFile(path, version)

    def _check_inside(self, path: str) -> None:
        if not path.startswith(self.allowed_root + os.sep):
            raise ImageRejected(Status.REFUSED, f"{path} is outside {self.allowed_root}")

    def read(self, file: LocalFile) -> bytes:
        """The file's bytes; ImageRejected when missing or over the byte limit (checked before reading)."""
        if file.version is None:
            raise ImageRejected(Status.NOT_FOUND, f"no file at {file.path}")
        if file.version.size > self.max_bytes:
            raise ImageRejected(Status.TOO_LARGE, f"{file.version.size:,} bytes > {self.max_bytes:,}")
        with open(file.path, "rb") as handle:
            # Asking for the limit + 1 bytes would allocate that much (20 MB) for every file, which
            # cost more than the read; a file grown since it was planned is read on, to the limit.
            data = handle.read(file.version.size + 1)
            if len(data) > file.version.size:
                data += handle.read(self.max_bytes + 1 - len(data))
        if len(data) > self.max_bytes:
            raise ImageRejected(Status.TOO_LARGE, f"more than {self.max_bytes:,} bytes")
        return data
