"""Prometheus metrics of the prediction server, served as text at ``/metrics``.

```
modelyard_requests_total{deployment,version,protocol,status}   every HTTP request
modelyard_request_duration_seconds{deployment,protocol}        histogram, in the server
modelyard_batch_size{deployment}                               rows per model predict
modelyard_queue_depth{deployment}                              rows waiting for a batch
modelyard_cache_hits_total{deployment} / _cache_misses_total   prediction cache, by row
modelyard_model_load_failures_total{deployment}                versions that failed to load
```

Requests that name no known deployment are counted with ``deployment=""``, so made-up
names cannot grow the label set. With several workers, set ``PROMETHEUS_MULTIPROC_DIR``
before the workers start (``modelyard serve`` does): each worker writes its values there and
a scrape sums them.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import override

from modelyard.serving._http import (
    Context,
    Endpoint,
    StateLike,
    StatusRecorder,
    request_info,
)
from modelyard.serving._observer import ServingObserver

__all__ = ["ENDPOINTS", "MetricsMiddleware", "PrometheusObserver", "refresh_levels"]

REQUESTS = Counter(
    "modelyard_requests_total",
    "HTTP requests by deployment, answering version, protocol and status.",
    ["deployment", "version", "protocol", "status"],
)
DURATION = Histogram(
    "modelyard_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["deployment", "protocol"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.045, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "modelyard_batch_size",
    "Rows in each model predict call (merged requests).",
    ["deployment"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
QUEUE_DEPTH = Gauge(
    "modelyard_queue_depth",
    "Rows waiting in the batcher queues.",
    ["deployment"],
    multiprocess_mode="livesum",
)
CACHE_HITS = Counter("modelyard_cache_hits", "Rows answered from the cache.", ["deployment"])
CACHE_MISSES = Counter("modelyard_cache_misses", "Rows not in the cache.", ["deployment"])
LOAD_FAILURES = Counter(
    "modelyard_model_load_failures",
    "Model versions that failed to load (the previous one kept serving).",
    ["deployment"],
)


@cache
def _requests(deployment: str, version: str, protocol: str, status: int) -> Any:
    return REQUESTS.labels(deployment, version, protocol, str(status))


@cache
def _duration(deployment: str, protocol: str) -> Any:
    return DURATION.labels(deployment, protocol)


@cache
def _batch_size(deployment: str) -> Any:
    return BATCH_SIZE.labels(deployment)


class PrometheusObserver(ServingObserver):
    """The runtime's hooks, counted in Prometheus."""

    @override
    def batch(
        self, deployment: str, version: int, requests: int, rows: int, seconds: float
    ) -> None:
        _batch_size(deployment).observe(rows)

    @override
    def cache(self, deployment: str, hits: int, misses: int) -> None:
        if hits:
            CACHE_HITS.labels(deployment).inc(hits)
        if misses:
            CACHE_MISSES.labels(deployment).inc(misses)

    @override
    def load(self, deployment: str, target: str, version: int | None, *, ok: bool) -> None:
        if not ok:
            LOAD_FAILURES.labels(deployment).inc()


def refresh_levels(state: StateLike) -> None:
    """Set the queue depth gauge from the runtime's levels now."""
    depth = dict.fromkeys(state.names(), 0)
    for batcher in state.stats().batchers:
        depth.setdefault(batcher.deployment, 0)
        depth[batcher.deployment] += batcher.queued_rows
    for deployment, rows in depth.items():
        QUEUE_DEPTH.labels(deployment).set(rows)


class MetricsMiddleware:
    """Counts every HTTP request and times it (status 500 when an exception escaped)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorder = StatusRecorder.around(scope, send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            info = request_info(scope)
            protocol = info.protocol or "other"
            _requests(info.deployment, info.version, protocol, recorder.status).inc()
            _duration(info.deployment, protocol).observe(recorder.seconds())


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


async def metrics(ctx: Context, _request: Request) -> Response:
    refresh_levels(ctx.state)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


ENDPOINTS = (Endpoint("GET", "/metrics", metrics, "Prometheus metrics (admin)", {}, ("Admin",)),)
