"""What happened to one image URL: its status vocabulary and the outcome record.

Statuses are split by what a rerun should do with them. A *retryable* failure (the network
or the server, not the image) is tried again on a later run once its cool-down has passed;
a *permanent* one (the bytes themselves are bad, or the URL is not allowed) is kept until the
URL, the local file or the limits change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    NOT_FOUND = "not_found"          # HTTP 404/410, or the local file does not exist
    TOO_LARGE = "too_large"          # more bytes than max_bytes (reading stopped there)
    EMPTY = "empty"                  # zero bytes
    NOT_IMAGE = "not_image"          # magic bytes are no accepted image format (HTML, text, ...)
    CORRUPT = "corrupt"              # looks like an image but does not decode (truncated, bad data)
    BOMB = "bomb"                    # more pixels than max_pixels: never decoded
    REFUSED = "refused"              # scheme, host, address or path not allowed (SSRF, outside raw/)
    REDIRECT_LOOP = "redirect_loop"  # a redirect cycle or more hops than max_redirects
    HTTP_ERROR = "http_error"        # a 4xx other than 404/410/429: the server will not serve it
    SERVER_ERROR = "server_error"    # 5xx or 429 after every retry
    TIMEOUT = "timeout"              # connect/read timeout or the download deadline, after retries
    UNREACHABLE = "unreachable"      # DNS failure, connection refused, host down, or offline mode
    ERROR = "error"                  # anything unexpected (the message is in `error`)


RETRYABLE: frozenset[Status] = frozenset({Status.SERVER_ERROR, Status.TIMEOUT, Status.UNREACHABLE, Status.ERROR})


@dataclass(frozen=True)
class Outcome:
    """The result of processing one URL (shared by every product that lists it)."""

    status: Status
    fetched_at: datetime
    attempts: int = 0                  # requests/reads made for this URL, summed over runs
    sha256: str | None = None          # of the normalized bytes; only when ok
    path: str | None = None            # lake-relative path of the normalized file; only when ok
    format: str | None = None          # format sniffed from the magic bytes (JPEG, PNG, ...)
    width: int | None = None           # original size, when the header could be read
    height: int | None = None
    bytes: int | None = None           # original byte count (as far as it was read)
    error: str | None = None
    source_mtime_ns: int | None = None  # local files: the mtime the outcome was computed from

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


class ImageRejected(Exception):
    """A URL or its bytes are unusable; carries the status to record and what is known so far
    (``attempts``: requests made before giving up, set by the fetcher)."""

    def __init__(self, status: Status, message: str, *, fmt: str | None = None,
                 width: int | None = None, height: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.format = fmt
        self.width = width
        self.height = height
        self.attempts = attempts
