"""Live metrics of the prediction server the dashboard is mounted in.

The server counts requests, latencies, batch sizes and cache hits in Prometheus (see
``serving/_metrics.py``). Those are running totals; what a person wants to see is a rate
over time. :class:`LiveMetrics` keeps a short history of snapshots of the totals, taken
when the dashboard asks (at most one per ``interval_s``), and turns each pair of
neighbouring snapshots into a point: requests per second, latency percentiles (from the
histogram buckets, as Prometheus's ``histogram_quantile`` does), the share of 5xx and 4xx
answers, and the cache hit ratio. It reads the registry by metric name, so it works the
same with several workers (``PROMETHEUS_MULTIPROC_DIR``: the registry sums them).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

if TYPE_CHECKING:
    from modelyard.serving._http import StateLike

__all__ = ["LiveMetrics", "quantile"]

_REQUESTS = "modelyard_requests_total"
_LATENCY = "modelyard_request_duration_seconds_bucket"
_BATCH = "modelyard_batch_size_bucket"
_HITS = "modelyard_cache_hits_total"
_MISSES = "modelyard_cache_misses_total"
QUANTILES = (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99))
SERIES = (
    "t",
    "rate",
    *(key for key, _ in QUANTILES),
    "error_rate",
    "client_error_rate",
    "cache_hit_ratio",
)


@dataclass(slots=True)
class Totals:
    """Running totals of one deployment at one moment."""

    requests: float = 0.0
    server_errors: float = 0.0
    client_errors: float = 0.0
    cache_hits: float = 0.0
    cache_misses: float = 0.0
    latency: dict[float, float] = field(default_factory=dict)  # bucket bound -> cumulative
    batch: dict[float, float] = field(default_factory=dict)

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == _REQUESTS:
            self.requests += value
            status = labels.get("status", "")
            if status.startswith("5"):
                self.server_errors += value
            elif status.startswith("4"):
                self.client_errors += value
        elif name == _LATENCY:
            bound = float(labels["le"])
            self.latency[bound] = self.latency.get(bound, 0.0) + value
        elif name == _BATCH:
            bound = float(labels["le"])
            self.batch[bound] = self.batch.get(bound, 0.0) + value
        elif name == _HITS:
            self.cache_hits += value
        elif name == _MISSES:
            self.cache_misses += value


Snapshot = tuple[float, dict[str, Totals]]  # wall time in ms, totals by deployment


def default_registry() -> CollectorRegistry:
    """The registry ``/metrics`` serves: the process's own, or every worker's summed."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def read_totals(registry: CollectorRegistry) -> dict[str, Totals]:
    """The totals of every deployment the registry has counted (requests that named no
    deployment, counted under ``deployment=""``, are left out)."""
    found: dict[str, Totals] = {}
    for family in registry.collect():
        for sample in family.samples:
            deployment = sample.labels.get("deployment")
            if deployment:
                totals = found.setdefault(deployment, Totals())
                totals.add(sample.name, sample.labels, sample.value)
    return found


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram given as (upper bound, cumulative count) pairs,
    interpolated linearly within its bucket; None when it counted nothing."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    low, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank and count > below:
            if math.isinf(bound):
                return low  # past the last finite bound: that bound is all we know
            return low + (bound - low) * (rank - below) / (count - below)
        low, below = (bound if not math.isinf(bound) else low), count
    return low


class LiveMetrics:
    """A short history of the server's totals, sampled on demand.

    Example:
        >>> live = LiveMetrics(state)
        >>> live.deployment("fraud")["series"]["rate"]  # requests/s between snapshots
    """

    def __init__(
        self,
        state: StateLike,
        *,
        registry: Callable[[], CollectorRegistry] = default_registry,
        interval_s: float = 1.0,
        keep: int = 600,
    ) -> None:
        self.state = state
        self.registry = registry
        self.interval_s = interval_s
        self._snapshots: deque[Snapshot] = deque(maxlen=keep)

    def sample(self, now_ms: float | None = None) -> None:
        """Take a snapshot unless the last one is younger than ``interval_s``."""
        now = time.time() * 1000 if now_ms is None else now_ms
        if self._snapshots and now - self._snapshots[-1][0] < self.interval_s * 1000:
            return
        self._snapshots.append((now, read_totals(self.registry())))

    def deployment(self, name: str) -> dict[str, Any]:
        """Everything the deployments page charts for ``name``, sampled now if due."""
        self.sample()
        history = [(t, totals.get(name, Totals())) for t, totals in self._snapshots]
        _, details = self.state.readiness()
        latest = history[-1][1]
        return {
            "available": True,
            "served": name in self.state.names(),
            "readiness": details.get("deployments", {}).get(name),
            "interval_s": self.interval_s,
            "series": _series(history),
            "batch_sizes": _distribution(latest.batch),
            "totals": {
                "requests": latest.requests,
                "server_errors": latest.server_errors,
                "client_errors": latest.client_errors,
                "cache_hits": latest.cache_hits,
                "cache_misses": latest.cache_misses,
                **{key: _ms(quantile(q, latest.latency.items())) for key, q in QUANTILES},
            },
            "queue_rows": sum(
                b.queued_rows for b in self.state.stats().batchers if b.deployment == name
            ),
        }


def _series(history: list[tuple[float, Totals]]) -> dict[str, list[Any]]:
    """One point per pair of neighbouring snapshots, at the time of the later one."""
    series: dict[str, list[Any]] = {key: [] for key in SERIES}
    for (t0, a), (t1, b) in itertools.pairwise(history):
        seconds = (t1 - t0) / 1000
        count = b.requests - a.requests
        delta = [(bound, n - a.latency.get(bound, 0.0)) for bound, n in b.latency.items()]
        hits, misses = b.cache_hits - a.cache_hits, b.cache_misses - a.cache_misses
        series["t"].append(int(t1))
        series["rate"].append(count / seconds if seconds > 0 else None)
        for key, q in QUANTILES:
            series[key].append(_ms(quantile(q, delta)))
        series["error_rate"].append(_share(b.server_errors - a.server_errors, count))
        series["client_error_rate"].append(_share(b.client_errors - a.client_errors, count))
        series["cache_hit_ratio"].append(_share(hits, hits + misses))
    return series


def _distribution(buckets: dict[float, float]) -> dict[str, list[Any]]:
    """Cumulative bucket counts as a count per bucket; the last bound (+Inf) is None."""
    bounds, counts, below = [], [], 0.0
    for bound, count in sorted(buckets.items()):
        bounds.append(None if math.isinf(bound) else bound)
        counts.append(count - below)
        below = count
    return {"bounds": bounds, "counts": counts}


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
