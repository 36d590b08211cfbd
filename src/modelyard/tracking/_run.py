"""The handle a training script logs through: ``with start_run(...) as run:``.

Params and tags are written at once (so a conflicting param fails where it is logged);
metric values are buffered in memory and written in one transaction when the buffer holds
``flush_rows`` values, when the oldest is ``flush_seconds`` old, at the end of the run and
when the block exits with an exception. Logging one value at a time in a training loop is
therefore a list append, not a database round trip.
"""

from __future__ import annotations

import atexit
import contextlib
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from modelyard._ids import now_ms
from modelyard.errors import RunNotActiveError
from modelyard.tracking._store import MetricRow, TrackingStore
from modelyard.tracking._types import ArtifactInfo, InputKind, Run, RunInput, RunStatus
from modelyard.tracking._validate import check_key, metric_value

__all__ = ["ActiveRun"]

_open_runs: weakref.WeakSet[ActiveRun] = weakref.WeakSet()


class ActiveRun:
    """A run being recorded. Use it as a context manager; ``end()`` also works.

    Example:
        >>> with modelyard.start_run(experiment="fraud") as run:
        ...     run.log_params({"model": "hgb", "max_depth": 6})
        ...     for step, loss in enumerate(losses):
        ...         run.log_metric("loss", loss, step=step)
    """

    def __init__(
        self,
        store: TrackingStore,
        run_id: str,
        *,
        name: str,
        experiment: str,
        flush_rows: int = 10_000,
        flush_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._buffer: list[MetricRow] = []
        self._oldest = 0.0
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()
        self.status = RunStatus.RUNNING
        _open_runs.add(self)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.name!r} {self.status}>"

    # -- logging -------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (immutable: logging a key again with another value raises
        :class:`~modelyard.errors.ParamConflictError`)."""
        self._check_open()
        self.store.log_params(self.id, params)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._check_open()
        self.store.set_tags(self.id, tags)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer one metric value. Without ``step`` the key's next step is used (0, 1, ...)."""
        self._check_open()
        if key not in self._keys:
            check_key(key, "metric")
            self._keys.add(key)
        number = metric_value(key, value)
        if step is None:
            step = self._steps.get(key, 0)
        self._steps[key] = int(step) + 1
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append((key, number, int(step), now_ms() if timestamp is None else timestamp))
        if len(self._buffer) >= self._flush_rows or (
            time.monotonic() - self._oldest >= self._flush_seconds
        ):
            self.flush()

    def log_metrics(
        self, values: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer several metric values at the same step and time."""
        ts = now_ms() if timestamp is None else timestamp
        for key, value in values.items():
            self.log_metric(key, value, step=step, timestamp=ts)

    def log_artifact(self, path: str | Path, name: str | None = None) -> ArtifactInfo:
        """Store a file or folder with the run, content-addressed."""
        self._check_open()
        return self.store.log_artifact(self.id, path, name)

    def log_input(
        self,
        kind: InputKind | str,
        ref: str,
        *,
        role: str = "training",
        digest: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> RunInput:
        """Record lineage: the run consumed ``ref`` (a dataset version, feature view, ...)."""
        self._check_open()
        return self.store.log_input(self.id, kind, ref, role=role, digest=digest, details=details)

    def flush(self) -> None:
        """Write buffered metric values now."""
        if self._buffer:
            rows, self._buffer = self._buffer, []
            self.store.log_metrics(self.id, rows)

    # -- lifecycle -----------------------------------------------------------------------

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        """Flush and mark the run ended (idempotent)."""
        if self.status != RunStatus.RUNNING:
            return
        try:
            self.flush()
        finally:
            self.store.end_run(self.id, status)
            self.status = status
            _open_runs.discard(self)

    def info(self) -> Run:
        """The run as stored now (flushes first)."""
        self.flush()
        return self.store.get_run(self.id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)

    def _check_open(self) -> None:
        if self.status != RunStatus.RUNNING:
            raise RunNotActiveError(self.id, self.status)


@atexit.register
def _end_open_runs() -> None:
    """Runs left open when the interpreter exits are flushed and finished, as in MLflow."""
    for run in list(_open_runs):
        with contextlib.suppress(Exception):  # at exit there is no one left to tell
            run.end(RunStatus.FINISHED)
