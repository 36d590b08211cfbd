"""What a running job's handler is given: the job, the workspace, progress and cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelyard.errors import JobCancelledError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.jobs._types import Job

__all__ = ["JobContext"]


class JobContext:
    """The context of one attempt of a job.

    Handlers report progress with :meth:`progress` (a ``ProgressFn`` for pipelines) and
    check for cancellation between units of work: both raise
    :class:`~modelyard.errors.JobCancelledError` once the worker was asked to stop the job
    (``modelyard jobs cancel``, a lost lease, a worker shutting down).
    """

    def __init__(
        self,
        job: Job,
        workspace: Workspace,
        *,
        on_progress: Callable[[Job, dict[str, Any]], None] | None = None,
    ) -> None:
        self.job = job
        self.workspace = workspace
        self._on_progress = on_progress
        self._stop = threading.Event()
        self.stop_reason: str | None = None
        self.latest_progress: dict[str, Any] | None = None

    @property
    def attempt(self) -> int:
        """1 for the first attempt, 2 for the first retry..."""
        return self.job.attempts

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def stop(self, reason: str) -> None:
        """Ask the handler to stop (called by the worker): ``cancel``, ``lost`` or
        ``shutdown``."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def raise_if_cancelled(self) -> None:
        if self._stop.is_set():
            raise JobCancelledError(self.job.id)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Record how far the job is (shown by ``modelyard jobs show``); raises
        JobCancelledError when the job should stop."""
        self.latest_progress = {"stage": stage, "done": done, "total": total}
        if self._on_progress is not None:
            self._on_progress(self.job, self.latest_progress)
        self.raise_if_cancelled()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking (and raising JobCancelledError) on a stop."""
        if self._stop.wait(seconds):
            self.raise_if_cancelled()
