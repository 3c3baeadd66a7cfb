"""SSRF guard, per-host rate limit and circuit breaker, without any network."""

from __future__ import annotations

import httpcore
import pytest

from recsys.images import HttpFetcher, HttpSettings, Status
from recsys.images.hosts import HostCircuitBreaker, HostRateLimiter
from recsys.images.outcome import ImageRejected
from recsys.images.ssrf import AddressRefused, GuardedNetworkBackend, is_public_address


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False),  # cloud metadata
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
])
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_a_host_resolving_to_a_private_address_is_refused_before_connecting():
    backend = GuardedNetworkBackend(allow_private=False, resolver=lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(AddressRefused, match="10.0.0.5"):
        backend.connect_tcp("rebinding.example", 80, timeout=0.1)


def test_metadata_endpoint_through_the_fetcher_is_refused_without_a_request():
    with HttpFetcher(HttpSettings(), resolver=lambda host, port: ["169.254.169.254"]) as fetcher:
        with pytest.raises(ImageRejected) as caught:
            fetcher.fetch("http://metadata.internal/latest/meta-data/iam")
    assert caught.value.status is Status.REFUSED and caught.value.attempts == 1


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "gopher://example.com/", "data:image/png;base64,AAAA",
                                 "javascript:alert(1)", "http:///no-host.jpg"])
def test_other_schemes_and_malformed_urls_are_refused(url):
    with HttpFetcher(HttpSettings(), resolver=_no_lookup) as fetcher:
        with pytest.raises(ImageRejected) as caught:
            fetcher.fetch(url)
    assert caught.value.status is Status.REFUSED


def test_allowed_hosts_are_globs():
    with HttpFetcher(HttpSettings(allowed_hosts=("*.asos-media.com",)), resolver=_no_lookup) as fetcher:
        with pytest.raises(ImageRejected) as caught:
            fetcher.fetch("https://evil.example/a.jpg")
        assert caught.value.status is Status.REFUSED and "allowed_hosts" in str(caught.value)
        with pytest.raises(ImageRejected) as caught:  # allowed: it gets as far as DNS
            fetcher.fetch("https://images.asos-media.com/a.jpg")
        assert caught.value.status is Status.UNREACHABLE


def test_unix_sockets_are_refused():
    with pytest.raises(AddressRefused):
        GuardedNetworkBackend(allow_private=True).connect_unix_socket("/var/run/docker.sock")


def test_connect_errors_stay_httpcore_errors_for_httpx_to_map():
    backend = GuardedNetworkBackend(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("localhost", 1, timeout=0.5)  # port 1: nothing listens


class _FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_spaces_requests_per_host():
    fake = _FakeTime()
    limiter = HostRateLimiter(per_second=4, clock=fake.clock, sleep=fake.sleep)
    waits = [limiter.wait("a.example") for _ in range(5)]
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]
    assert limiter.wait("b.example") == 0.0  # another host has its own budget


def test_rate_limiter_does_not_bank_idle_time():
    fake = _FakeTime()
    limiter = HostRateLimiter(per_second=2, clock=fake.clock, sleep=fake.sleep)
    limiter.wait("a")
    fake.now += 10
    assert [limiter.wait("a"), limiter.wait("a")] == [0.0, 0.5]


def test_breaker_opens_after_consecutive_failures_and_success_resets():
    breaker = HostCircuitBreaker(failure_limit=3)
    breaker.failed("h", Status.TIMEOUT, "t1")
    breaker.failed("h", Status.TIMEOUT, "t2")
    breaker.succeeded("h")
    breaker.failed("h", Status.TIMEOUT, "t3")
    breaker.failed("h", Status.TIMEOUT, "t4")
    assert breaker.down("h") is None
    breaker.failed("h", Status.SERVER_ERROR, "HTTP 503")
    down = breaker.down("h")
    assert down is not None and down.status is Status.SERVER_ERROR and "HTTP 503" in down.reason


def test_breaker_opens_at_once_on_a_decisive_failure():
    breaker = HostCircuitBreaker(failure_limit=5)
    breaker.failed("h", Status.UNREACHABLE, "cannot resolve", decisive=True)
    assert breaker.down("h") is not None and breaker.down("other") is None


def _no_lookup(host: str, port: int) -> list[str]:
    from recsys.images.ssrf import HostUnresolvable

    raise HostUnresolvable(f"cannot resolve {host!r} (test: no DNS)")
