"""The image fetcher: how the image cache reaches the outside world (HTTP and local files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from recsys.images import CacheSettings, HttpFetcher, HttpSettings, LocalFiles, Status


class ImageFetcherResource(dg.ConfigurableResource):
    """Fetches product images safely: httpx with timeouts, retries, a per-host rate limit and SSRF
    protection for http(s) URLs; local files only inside the lake's raw/ folder.

    Defaults run the embedded sample anywhere, with or without network: a host that does not
    resolve is marked down after one try, so its URLs are recorded as unreachable at once.
    """

    offline: bool = Field(False, description="Skip the network entirely: remote URLs are recorded as unreachable.")
    timeout_s: float = Field(10.0, description="Read/write timeout per request (seconds).")
    connect_timeout_s: float = Field(5.0, description="TCP/TLS connect timeout (seconds).")
    download_deadline_s: float = Field(60.0, description="Wall-clock limit for one response body (slow drips).")
    retries: int = Field(2, description="Extra attempts on connection errors, timeouts, 5xx and 429 (never on 4xx).")
    backoff_s: float = Field(0.5, description="First retry delay; doubles per retry, with full jitter.")
    backoff_max_s: float = Field(8.0, description="Longest retry delay (also caps Retry-After).")
    concurrency: int = Field(16, description="Simultaneous downloads.")
    per_host_rps: float = Field(8.0, description="Request starts per second per host (0: unlimited).")
    host_failure_limit: int = Field(3, description="Consecutive connection failures after which a host is skipped "
                                                   "for the rest of the run (DNS failure: at once).")
    max_redirects: int = Field(5, description="Redirect hops followed; more, or a cycle, is redirect_loop.")
    allowed_hosts: list[str] = Field(default_factory=list,
                                     description="Host globs allowed for URLs and redirects, e.g. '*.asos-media.com'; "
                                                 "empty: any public host.")
    allow_private: bool = Field(False, description="Allow private, loopback and link-local addresses (tests only).")
    verify_tls: bool = True
    user_agent: str = "fashion-recsys-image-cache/1.0"
    max_bytes: int = Field(20 * 1024 * 1024, description="Larger bodies/files are too_large; reading stops there.")
    max_pixels: int = Field(40_000_000, description="Larger images are bombs, rejected before decoding.")
    images_per_product: int = Field(1, description="Ok images wanted per product, in image_urls order; later URLs "
                                                   "are only tried when earlier ones fail. Downstream uses the first.")
    decode_workers: int = Field(0, description="Local-file decoders (0: one per core): threads, or worker processes "
                                               "when a run has 2,000 local files or more.")

    def http_settings(self) -> HttpSettings:
        return HttpSettings(
            max_bytes=self.max_bytes, timeout_s=self.timeout_s, connect_timeout_s=self.connect_timeout_s,
            download_deadline_s=self.download_deadline_s, retries=self.retries, backoff_s=self.backoff_s,
            backoff_max_s=self.backoff_max_s, concurrency=self.concurrency, per_host_rps=self.per_host_rps,
            host_failure_limit=self.host_failure_limit, max_redirects=self.max_redirects,
            allowed_hosts=tuple(self.allowed_hosts), allow_private=self.allow_private, verify_tls=self.verify_tls,
            user_agent=self.user_agent, offline=self.offline,
        )

    def cache_settings(self, retry_after_hours: float, refetch: list[str], prune_orphans: bool) -> CacheSettings:
        return CacheSettings(
            images_per_product=self.images_per_product, max_pixels=self.max_pixels, workers=self.decode_workers,
            retry_after=timedelta(hours=retry_after_hours), refetch=frozenset(Status(s) for s in refetch),
            prune_orphans=prune_orphans,
        )

    def local_files(self, lake_root: Path) -> LocalFiles:
        return LocalFiles(lake_root, self.max_bytes)

    @contextmanager
    def http(self) -> Iterator[HttpFetcher]:
        with HttpFetcher(self.http_settings()) as fetcher:
            yield fetcher
