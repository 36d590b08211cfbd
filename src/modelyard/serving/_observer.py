"""Metrics hooks of the serving runtime, for the HTTP layer to bind to Prometheus.

The runtime never imports a metrics library. It calls a :class:`ServingObserver` when
something worth counting happens (push), and :meth:`ServingState.stats` gives a snapshot of
levels such as queue depths (pull, e.g. from a custom Prometheus collector at scrape time).

Example:
    >>> class Printer(ServingObserver):
    ...     def batch(self, deployment, version, requests, rows, seconds):
    ...         print(deployment, version, requests, rows)
    >>> state = ServingState(workspace, observer=Printer())
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BatcherStats", "CacheStats", "ServingObserver", "ServingStats", "guarded"]

log = logging.getLogger(__name__)


class ServingObserver:
    """Every hook the runtime calls; each does nothing here, so override only what you use.

    Hooks run on the event loop (``load_failed`` too), so they must be quick and must not
    raise; an exception from a hook is logged and swallowed.
    """

    def batch(
        self, deployment: str, version: int, requests: int, rows: int, seconds: float
    ) -> None:
        """One ``predict`` call ran: how many requests and rows it merged, how long it took."""

    def prediction(
        self,
        deployment: str,
        target: str,
        version: int,
        rows: int,
        seconds: float,
        *,
        shadow: bool,
    ) -> None:
        """One request was answered (``shadow``: a mirrored copy, never seen by a caller)."""

    def failure(self, deployment: str, target: str, error: str, *, shadow: bool) -> None:
        """One request failed in the runtime (``error`` is the error's ``code``)."""

    def overloaded(self, deployment: str, version: int) -> None:
        """A request was refused because the batcher's queue was full."""

    def cache(self, deployment: str, hits: int, misses: int) -> None:
        """Rows of one request found (hits) or not found (misses) in the prediction cache."""

    def cache_error(self, deployment: str, error: str) -> None:
        """The cache backend failed; the rows were computed instead."""

    def load(self, deployment: str, target: str, version: int | None, *, ok: bool) -> None:
        """A model version was loaded for a target (``ok``) or failed to load."""


def guarded(observer: ServingObserver) -> ServingObserver:
    """``observer`` with every hook made safe: an exception is logged, never raised into
    the runtime."""
    if type(observer) is ServingObserver:
        return observer
    guard = ServingObserver()
    for name in _HOOKS:
        hook = getattr(observer, name)
        if getattr(type(observer), name) is not getattr(ServingObserver, name):
            setattr(guard, name, _safe(hook))
    return guard


def _safe(hook: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(hook)
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            log.exception("serving observer hook %s failed", hook.__name__)

    return call


_HOOKS = ("batch", "prediction", "failure", "overloaded", "cache", "cache_error", "load")


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """The level of one batcher (one loaded model version of one deployment)."""

    deployment: str
    version: int
    queued_rows: int
    queued_requests: int
    busy: bool


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Running totals of one deployment's prediction cache."""

    deployment: str
    hits: int
    misses: int
    errors: int


@dataclass(frozen=True, slots=True)
class ServingStats:
    """A snapshot of levels and running totals, cheap enough to take at every scrape."""

    batchers: tuple[BatcherStats, ...] = ()
    caches: tuple[CacheStats, ...] = ()
    load_failures: int = 0
