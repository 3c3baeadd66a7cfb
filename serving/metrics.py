"""Prometheus metrics: requests by route and status, latency by route, the build served."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app, so several apps in one process (tests) keep separate counts."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("recsys_http_requests", "HTTP requests by route template and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("recsys_http_request_seconds", "Request latency by route template",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.build = Gauge("recsys_build_info", "The build being served (1 for the current build_id)",
                           ["build_id", "built_at"], registry=self.registry)
        self.swaps = Counter("recsys_build_swaps", "Builds swapped in without a restart", registry=self.registry)

    def serving(self, build_id: str, built_at: str) -> None:
        self.build.clear()
        self.build.labels(build_id, built_at).set(1)
        self.swaps.inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Plain ASGI (no per-request task or body copy): records every HTTP request's route and status."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]      # what the server answers when the app raises before responding

        async def send_and_record_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope["method"], str(status[0])).inc()
            self.metrics.latency.labels(path, scope["method"]).observe(time.perf_counter() - started)
