"""Downloading images over HTTP(S) with httpx, defensively.

One download = at most ``max_redirects`` hops, each hop at most ``1 + retries`` attempts.
Retried: connection errors, timeouts, 5xx and 429 (exponential backoff with jitter, honouring
Retry-After up to ``backoff_max_s``). Not retried: 4xx, DNS failures, refused addresses.
Redirects are followed by hand so every hop is checked (scheme, host allow-list, cycles) and the
SSRF guard sees every connection. Bodies are streamed and cut at ``max_bytes`` (Content-Length
is checked first, then the running count), with a wall-clock deadline against slow drips.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from recsys.images.hosts import HostCircuitBreaker, HostRateLimiter
from recsys.images.outcome import ImageRejected, Status
from recsys.images.ssrf import AddressRefused, GuardedNetworkBackend, HostUnresolvable, Resolver, resolve_host

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_CONNECTION_STATUSES = frozenset({Status.UNREACHABLE, Status.TIMEOUT, Status.SERVER_ERROR})


@dataclass(frozen=True)
class HttpSettings:
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 10.0              # per read / write / pool wait
    connect_timeout_s: float = 5.0
    download_deadline_s: float = 60.0    # one attempt's whole body, against slow drips
    retries: int = 2                     # extra attempts after the first, per hop
    backoff_s: float = 0.5               # first backoff; doubles per retry, full jitter
    backoff_max_s: float = 8.0
    concurrency: int = 16
    per_host_rps: float = 8.0
    host_failure_limit: int = 3
    max_redirects: int = 5
    allowed_schemes: tuple[str, ...] = ("http", "https")
    allowed_hosts: tuple[str, ...] = ()  # glob patterns ("*.asos-media.com"); empty: any public host
    allow_private: bool = False
    verify_tls: bool = True
    user_agent: str = "fashion-recsys-image-cache/1.0"
    offline: bool = False


@dataclass(frozen=True)
class Download:
    data: bytes
    attempts: int
    final_url: str


@dataclass(frozen=True)
class _Hop:
    status_code: int
    location: str | None = None
    body: bytes | None = None
    retry_after_s: float | None = None


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the SSRF-guarded network backend under its connection pool."""

    def __init__(self, settings: HttpSettings, resolver: Resolver):
        super().__init__(verify=settings.verify_tls, trust_env=False)
        # httpx exposes no network_backend argument; its pool is the documented httpcore one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=settings.verify_tls, trust_env=False),
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency,
            keepalive_expiry=5.0, network_backend=GuardedNetworkBackend(settings.allow_private, resolver),
        )


class HttpFetcher:
    """Thread-safe downloader; use as a context manager (it owns an httpx.Client)."""

    def __init__(self, settings: HttpSettings, resolver: Resolver = resolve_host,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self.limiter = HostRateLimiter(settings.per_host_rps, clock=clock, sleep=sleep)
        self.breaker = HostCircuitBreaker(settings.host_failure_limit)
        self._client: httpx.Client | None = None
        if not settings.offline:
            self._client = httpx.Client(
                transport=_GuardedTransport(settings, resolver), follow_redirects=False, trust_env=False,
                timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
                # Images are compressed already; identity also keeps gzip bombs out of the picture.
                headers={"User-Agent": settings.user_agent, "Accept": "image/*",
                         "Accept-Encoding": "identity"},
            )

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def fetch(self, url: str) -> Download:
        """The body at ``url`` after redirects; raises ImageRejected (with ``attempts``) otherwise."""
        host = self._check_allowed(url)
        if self._client is None:
            raise ImageRejected(Status.UNREACHABLE, "offline mode: network access disabled")
        attempts = 0
        seen = [url]
        current = url
        try:
            for hop_number in range(self.settings.max_redirects + 1):
                if hop_number:
                    host = self._check_allowed(current)
                hop, used = self._get_with_retries(current, host)
                attempts += used
                if hop.location is None:
                    assert hop.body is not None
                    return Download(hop.body, attempts, current)
                target = urljoin(current, hop.location)
                if target in seen:
                    raise ImageRejected(Status.REDIRECT_LOOP, "redirect cycle: " + " -> ".join([*seen, target]))
                seen.append(target)
                current = target
            raise ImageRejected(Status.REDIRECT_LOOP, f"more than {self.settings.max_redirects} redirects")
        except ImageRejected as rejected:
            rejected.attempts += attempts
            raise

    def _check_allowed(self, url: str) -> str:
        """The URL's host when scheme and host are allowed; ImageRejected(refused) otherwise."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in self.settings.allowed_schemes:
            raise ImageRejected(Status.REFUSED, f"scheme {scheme!r} is not allowed ({url[:200]})")
        host = (parts.hostname or "").lower()
        if not host:
            raise ImageRejected(Status.REFUSED, "URL without a host")
        allowed = self.settings.allowed_hosts
        if allowed and not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in allowed):
            raise ImageRejected(Status.REFUSED, f"host {host!r} is not in allowed_hosts")
        return host

    def _get_with_retries(self, url: str, host: str) -> tuple[_Hop, int]:
        attempt = 0
        while True:
            down = self.breaker.down(host)
            if down is not None:
                what = "retry skipped" if attempt else "not tried"
                raise ImageRejected(down.status, f"{what}: host {host} is down for this run ({down.reason})",
                                    attempts=attempt)
            attempt += 1
            self.limiter.wait(host)
            try:
                hop = self._get_once(url)
            except ImageRejected as rejected:  # decided by the response itself: never retried
                self.breaker.succeeded(host)
                rejected.attempts = attempt
                raise
            except HostUnresolvable as exc:
                self.breaker.failed(host, Status.UNREACHABLE, str(exc), decisive=True)
                raise ImageRejected(Status.UNREACHABLE, str(exc), attempts=attempt) from exc
            except AddressRefused as exc:
                raise ImageRejected(Status.REFUSED, str(exc), attempts=attempt) from exc
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise ImageRejected(Status.REFUSED, f"invalid URL: {exc}", attempts=attempt) from exc
            except httpx.TransportError as exc:
                status = Status.TIMEOUT if isinstance(exc, httpx.TimeoutException) else (
                    Status.UNREACHABLE if isinstance(exc, httpx.ConnectError) else Status.ERROR)
                failure = (status, f"{type(exc).__name__}: {exc}", None)
            else:
                if hop.status_code < 500 and hop.status_code != 429:
                    self.breaker.succeeded(host)
                    return hop, attempt
                failure = (Status.SERVER_ERROR, f"HTTP {hop.status_code}", hop.retry_after_s)
            status, message, retry_after = failure
            if attempt > self.settings.retries:
                if status in _CONNECTION_STATUSES:  # one slow URL is not a dead host: count URLs, not attempts
                    self.breaker.failed(host, status, message)
                raise ImageRejected(status, f"{message} (after {attempt} attempts)", attempts=attempt)
            self._sleep(self._backoff(attempt, retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
        delay = random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.backoff_max_s))
        return delay

    def _get_once(self, url: str) -> _Hop:
        assert self._client is not None
        with self._client.stream("GET", url) as response:
            code = response.status_code
            if code in _REDIRECT_CODES:
                location = response.headers.get("location")
                if not location:
                    raise ImageRejected(Status.HTTP_ERROR, f"HTTP {code} without a Location")
                return _Hop(code, location=location)
            if code == 429 or code >= 500:
                return _Hop(code, retry_after_s=_retry_after_seconds(response.headers.get("retry-after")))
            if code in (404, 410):
                raise ImageRejected(Status.NOT_FOUND, f"HTTP {code}")
            if not 200 <= code < 300:
                raise ImageRejected(Status.HTTP_ERROR, f"HTTP {code}")
            return _Hop(code, body=self._read_body(response))

    def _read_body(self, response: httpx.Response) -> bytes:
        limit = self.settings.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ImageRejected(Status.TOO_LARGE, f"Content-Length {int(declared):,} > {limit:,} bytes")
        deadline = self._clock() + self.settings.download_deadline_s
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > limit:
                raise ImageRejected(Status.TOO_LARGE, f"more than {limit:,} bytes (stopped reading)")
            if self._clock() > deadline:
                raise httpx.ReadTimeout(f"body not complete after {self.settings.download_deadline_s}s")
            chunks.append(chunk)
        return b"".join(chunks)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored: the backoff applies)."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
