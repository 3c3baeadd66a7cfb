"""Per-host politeness and health: a request rate limit and a circuit breaker.

The breaker is what keeps a run without network (or with a dead CDN) short: once
``failure_limit`` URLs of a host in a row have failed at the connection level after their
retries (or the host's name does not resolve at all, which is decisive at once), its remaining
URLs are recorded without being tried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from recsys.images.outcome import Status


class HostRateLimiter:
    """At most ``per_second`` request starts per host (evenly spaced), shared by all threads."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_slot: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> float:
        """Block until ``host`` may be requested again; returns the seconds waited."""
        if not self._interval:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + self._interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass(frozen=True)
class HostDown:
    status: Status   # what the failures that opened the breaker were (unreachable, timeout, ...)
    reason: str


class HostCircuitBreaker:
    """Counts consecutive failed URLs per host; hosts past the limit are skipped for the run."""

    def __init__(self, failure_limit: int):
        self._limit = max(1, failure_limit)
        self._streak: dict[str, int] = {}
        self._down: dict[str, HostDown] = {}
        self._lock = threading.Lock()

    def down(self, host: str) -> HostDown | None:
        with self._lock:
            return self._down.get(host)

    def succeeded(self, host: str) -> None:
        with self._lock:
            self._streak[host] = 0

    def failed(self, host: str, status: Status, reason: str, decisive: bool = False) -> None:
        with self._lock:
            streak = self._streak.get(host, 0) + 1
            self._streak[host] = streak
            if (decisive or streak >= self._limit) and host not in self._down:
                self._down[host] = HostDown(status, f"{streak} failure(s) in a row, last: {reason}")

    def hosts_down(self) -> dict[str, HostDown]:
        with self._lock:
            return dict(self._down)
