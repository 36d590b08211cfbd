"""Live server metrics: rates, percentiles and ratios from snapshots of Prometheus totals."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from modelyard.dashboard._live import LiveMetrics, quantile
from modelyard.serving._observer import BatcherStats, ServingStats


class State:
    """The two things LiveMetrics asks a server's runtime."""

    def names(self) -> list[str]:
        return ["fraud"]

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return True, {"deployments": {"fraud": {"ready": True}}}

    def stats(self) -> ServingStats:
        return ServingStats(batchers=(BatcherStats("fraud", 1, 3, 1, True),))


class Server:
    """The server's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelyard_requests",
            "",
            ["deployment", "version", "protocol", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "modelyard_request_duration_seconds",
            "",
            ["deployment", "protocol"],
            buckets=(0.01, 0.02, 0.05),
            registry=self.registry,
        )
        self.batch = Histogram(
            "modelyard_batch_size", "", ["deployment"], buckets=(1, 8), registry=self.registry
        )
        self.hits = Counter("modelyard_cache_hits", "", ["deployment"], registry=self.registry)
        self.misses = Counter("modelyard_cache_misses", "", ["deployment"], registry=self.registry)

    def answer(self, status: int, seconds: float, deployment: str = "fraud") -> None:
        self.requests.labels(deployment, "1", "native", str(status)).inc()
        self.duration.labels(deployment, "native").observe(seconds)


def test_quantiles_interpolate_within_buckets() -> None:
    buckets = [(0.01, 0.0), (0.02, 50.0), (0.05, 100.0), (float("inf"), 100.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.02)
    assert quantile(0.25, buckets) == pytest.approx(0.015)
    assert quantile(0.99, buckets) == pytest.approx(0.0494)
    assert quantile(0.5, [(0.01, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.5, [(0.01, 0.0), (float("inf"), 4.0)]) == 0.01  # past the last bound


def test_points_between_snapshots() -> None:
    server = Server()
    live = LiveMetrics(State(), registry=lambda: server.registry)
    live.sample(now_ms=0)
    for _ in range(8):
        server.answer(200, 0.015)
    server.answer(500, 0.03)
    server.answer(422, 0.001)
    server.answer(200, 0.001, deployment="")  # no deployment: not counted
    server.hits.labels("fraud").inc(3)
    server.misses.labels("fraud").inc(1)
    server.batch.labels("fraud").observe(4)
    live.sample(now_ms=2000)
    live.sample(now_ms=2500)  # too soon after the last one: skipped
    view = live.deployment("fraud")
    series = view["series"]
    assert len(series["t"]) >= 1
    assert series["rate"][0] == pytest.approx(10 / 2)
    assert series["error_rate"][0] == pytest.approx(0.1)
    assert series["client_error_rate"][0] == pytest.approx(0.1)
    assert series["cache_hit_ratio"][0] == pytest.approx(0.75)
    assert 10 <= series["p50_ms"][0] <= 20
    assert view["batch_sizes"] == {"bounds": [1.0, 8.0, None], "counts": [0.0, 1.0, 0.0]}
    assert view["totals"]["requests"] == 10
    assert view["queue_rows"] == 3
    assert view["readiness"] == {"ready": True}
    assert view["served"] is True


def test_an_idle_window_has_no_rates_to_divide() -> None:
    server = Server()
    live = LiveMetrics(State(), registry=lambda: server.registry)
    live.sample(now_ms=0)
    live.sample(now_ms=1500)
    series = live.deployment("other")["series"]
    assert series["rate"][0] == 0
    assert series["p50_ms"][0] is None
    assert series["error_rate"][0] is None
    assert series["cache_hit_ratio"][0] is None
