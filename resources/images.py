"""The image fetcher: how the image cache reaches the outside world (HTTP and local files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.defaults import field_default, from_config
from recsys.images import CacheSettings, HttpFetcher, HttpSettings, LocalFiles, Status


class ImageFetcherResource(dg.ConfigurableResource):
    """Fetches product images safely: httpx with timeouts, retries, a per-host rate limit and SSRF
    protection for http(s) URLs; local files only inside the lake's raw/ folder.

    Defaults run the embedded sample anywhere, with or without network: a host that does not
    resolve is marked down after one try, so its URLs are recorded as unreachable at once.
    """

    offline: bool = Field(field_default(HttpSettings, "offline"),
                          description="Skip the network entirely: remote URLs are recorded as unreachable.")
    timeout_s: float = Field(field_default(HttpSettings, "timeout_s"),
                             description="Read/write timeout per request (seconds).")
    connect_timeout_s: float = Field(field_default(HttpSettings, "connect_timeout_s"),
                                     description="TCP/TLS connect timeout (seconds).")
    download_deadline_s: float = Field(field_default(HttpSettings, "download_deadline_s"),
                                       description="Wall-clock limit for one response body (slow drips).")
    retries: int = Field(field_default(HttpSettings, "retries"),
                         description="Extra attempts on connection errors, timeouts, 5xx and 429 (never on 4xx).")
    backoff_s: float = Field(field_default(HttpSettings, "backoff_s"),
                             description="First retry delay; doubles per retry, with full jitter.")
    backoff_max_s: float = Field(field_default(HttpSettings, "backoff_max_s"),
                                 description="Longest retry delay (also caps Retry-After).")
    concurrency: int = Field(field_default(HttpSettings, "concurrency"), description="Simultaneous downloads.")
    per_host_rps: float = Field(field_default(HttpSettings, "per_host_rps"),
                                description="Request starts per second per host (0: unlimited).")
    host_failure_limit: int = Field(field_default(HttpSettings, "host_failure_limit"),
                                    description="Consecutive connection failures after which a host is skipped "
                                                "for the rest of the run (DNS failure: at once).")
    max_redirects: int = Field(field_default(HttpSettings, "max_redirects"),
                               description="Redirect hops followed; more, or a cycle, is redirect_loop.")
    allowed_hosts: list[str] = Field(default_factory=list,
                                     description="Host globs allowed for URLs and redirects, e.g. '*.asos-media.com'; "
                                                 "empty: any public host.")
    allow_private: bool = Field(field_default(HttpSettings, "allow_private"),
                                description="Allow private, loopback and link-local addresses (tests only).")
    verify_tls: bool = field_default(HttpSettings, "verify_tls")
    user_agent: str = field_default(HttpSettings, "user_agent")
    max_bytes: int = Field(field_default(HttpSettings, "max_bytes"),
                           description="Larger bodies/files are too_large; reading stops there.")
    max_pixels: int = Field(field_default(CacheSettings, "max_pixels"),
                            description="Larger images are bombs, rejected before decoding.")
    images_per_product: int = Field(field_default(CacheSettings, "images_per_product"),
                                    description="Ok images wanted per product, in image_urls order; later URLs "
                                                "are only tried when earlier ones fail. Downstream uses the first.")
    decode_workers: int = Field(field_default(CacheSettings, "workers"),
                                description="Local-file decoders (0: one per core): threads, or worker processes "
                                            "when a run has 2,000 local files or more.")

    def http_settings(self) -> HttpSettings:
        return from_config(HttpSettings, self, allowed_hosts=tuple(self.allowed_hosts))

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
