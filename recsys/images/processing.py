"""One URL's processing, from its bytes to its outcome: validate, normalize, store, record.

``ImageProcessor`` holds only plain, picklable state (the store, the local-file reader, the
limits and the run's timestamp), so the same code runs on the cache's threads and, for large
runs of local files, in decode worker processes (decode_pool.py), with identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from recsys.images.local import LocalFile, LocalFiles
from recsys.images.normalize import normalize_image
from recsys.images.outcome import ImageRejected, Outcome, Status
from recsys.images.store import ImageStore

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Job:
    url: str
    earlier: Outcome | None              # what the previous manifest said, if anything
    file: LocalFile | None = None        # local files only

    @property
    def attempts_before(self) -> int:
        return self.earlier.attempts if self.earlier is not None else 0


@dataclass(frozen=True)
class Done:
    url: str
    outcome: Outcome
    local: bool
    normalized: bool = False         # the bytes went through validation / normalization
    reencoded: bool = False
    requests: int = 0
    bytes_read: int = 0


@dataclass(frozen=True)
class ImageProcessor:
    store: ImageStore
    local: LocalFiles
    max_pixels: int
    now: datetime

    def local_batch(self, jobs: list[Job]) -> list[Done]:
        return [self.safely(job, self.read_local, local=True) for job in jobs]

    def safely(self, job: Job, process: Callable[[Job], Done], local: bool) -> Done:
        try:
            return process(job)
        except Exception as exc:  # a bug or the disk, not the image: recorded, the run goes on
            return self.failed(job, exc, local)

    def failed(self, job: Job, exc: BaseException, local: bool) -> Done:
        """An ``error`` outcome (retryable) for what went wrong outside the image's own checks."""
        outcome = Outcome(Status.ERROR, self.now, attempts=job.attempts_before + 1,
                          error=clip(f"{type(exc).__name__}: {exc}"))
        return Done(job.url, outcome, local)

    def read_local(self, job: Job) -> Done:
        assert job.file is not None
        version = job.file.version
        mtime = version.mtime_ns if version is not None else None
        try:
            data = self.local.read(job.file)
        except ImageRejected as rejected:
            outcome = Outcome(rejected.status, self.now, attempts=job.attempts_before + 1, error=clip(str(rejected)),
                              bytes=version.size if version is not None else None, source_mtime_ns=mtime)
            return Done(job.url, outcome, local=True)
        return self.normalize_and_store(job, data, local=True, attempts=1, source_mtime_ns=mtime)

    def normalize_and_store(self, job: Job, data: bytes, local: bool, attempts: int,
                            source_mtime_ns: int | None = None) -> Done:
        requests = 0 if local else attempts
        attempts += job.attempts_before
        try:
            normalized = normalize_image(data, self.max_pixels)
        except ImageRejected as rejected:
            outcome = Outcome(rejected.status, self.now, attempts, format=rejected.format, width=rejected.width,
                              height=rejected.height, bytes=len(data), error=clip(str(rejected)),
                              source_mtime_ns=source_mtime_ns)
            return Done(job.url, outcome, local, normalized=True, requests=requests, bytes_read=len(data))
        sha256, path = self.store.put(normalized.data)
        outcome = Outcome(Status.OK, self.now, attempts, sha256, path, normalized.format, normalized.width,
                          normalized.height, len(data), source_mtime_ns=source_mtime_ns)
        return Done(job.url, outcome, local, normalized=True, reencoded=normalized.reencoded,
                    requests=requests, bytes_read=len(data))


def clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"
