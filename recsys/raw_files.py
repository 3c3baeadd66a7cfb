"""A fingerprint of the raw folder, so a sensor can tell when new or changed files landed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

RAW_SUFFIXES = frozenset({".csv", ".parquet", ".jpg", ".jpeg", ".png", ".webp"})


@dataclass(frozen=True)
class RawSnapshot:
    fingerprint: str   # changes when any raw file is added, removed, resized or touched
    files: int
    bytes: int


def snapshot_raw(raw_dir: Path) -> RawSnapshot:
    """Fingerprint every data file under ``raw_dir`` by relative path, size and mtime (no reads)."""
    digest = hashlib.sha256()
    files = total = 0
    if raw_dir.exists():
        for path in sorted(p for p in raw_dir.rglob("*") if p.suffix.lower() in RAW_SUFFIXES and p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(raw_dir).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            files += 1
            total += stat.st_size
    return RawSnapshot(digest.hexdigest()[:32], files, total)
