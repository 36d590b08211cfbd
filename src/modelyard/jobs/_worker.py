"""A worker: claims jobs, runs them on threads, renews their leases, records outcomes.

One loop claims as many due jobs as there are free slots and starts a thread per job; a
heartbeat thread renews the leases of running jobs and passes on cancel requests. A
database that cannot be reached (a restarted PostgreSQL) is waited for: claims back off,
heartbeats are skipped, and outcomes are retried (tenacity) until the lease would be gone.
Stopping is graceful: no new claims, running jobs get ``shutdown_grace_s`` to finish, then
are asked to stop and given back to the queue unfinished.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import tenacity

from modelyard._ids import new_id
from modelyard.errors import JobCancelledError, ModelyardError, StoreUnavailableError
from modelyard.jobs._context import JobContext
from modelyard.jobs._queue import JobQueue
from modelyard.jobs._schedules import enqueue_due
from modelyard.jobs._types import Job, JobStatus

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = ["Worker", "WorkerObserver"]

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYING = "RETRYING"  # failed; queued again after a backoff
RELEASED = "RELEASED"  # given back unfinished by a stopping worker
LOST = "LOST"  # the lease went to another worker; nothing was recorded
_MAX_PAUSE_S = 2.0  # the longest pause between tries to reach an unreachable database


class WorkerObserver(Protocol):
    """What a worker reports as it goes (the CLI shows it)."""

    def job_started(self, job: Job) -> None: ...

    def job_progress(self, job: Job, progress: dict[str, Any]) -> None: ...

    def job_ended(self, job: Job, outcome: str) -> None: ...


class _Quiet:
    def job_started(self, job: Job) -> None:
        pass

    def job_progress(self, job: Job, progress: dict[str, Any]) -> None:
        pass

    def job_ended(self, job: Job, outcome: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Running:
    job: Job
    ctx: JobContext


class Worker:
    """Runs jobs of ``queue`` on ``concurrency`` threads until :meth:`stop`.

    Example:
        >>> worker = Worker(ws.jobs, ws, concurrency=4)
        >>> worker.run(drain=True)  # until no job is queued or running
        {'SUCCEEDED': 12}
    """

    def __init__(
        self,
        queue: JobQueue,
        workspace: Workspace,
        *,
        concurrency: int = 1,
        name: str | None = None,
        schedules: Callable[[], Mapping[str, str]] | None = None,
        observer: WorkerObserver | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self.workspace = workspace
        self.concurrency = concurrency
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:6]}"
        self.schedules = schedules
        self.observer: WorkerObserver = observer or _Quiet()
        self.outcomes: Counter[str] = Counter()
        self._settings = queue.settings
        self._active: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        self._halted = threading.Event()

    def stop(self, *, now: bool = False) -> None:
        """Stop claiming; running jobs get the grace period, or none when ``now``."""
        self._stopping.set()
        if now:
            self._hurry.set()
        self._wake.set()

    def running(self) -> list[Job]:
        with self._lock:
            return [r.job for r in self._active.values()]

    def run(self, *, drain: bool = False) -> dict[str, int]:
        """Run jobs until stopped (or, with ``drain``, until no job of the kinds it knows is
        queued or running); returns how many attempts ended in each outcome."""
        self._halted.clear()
        beat = threading.Thread(target=self._heartbeats, name="modelyard-heartbeat", daemon=True)
        beat.start()
        try:
            self._loop(drain)
        finally:
            self._shutdown()
            self._halted.set()
            beat.join(5)
        return dict(self.outcomes)

    # -- the claim loop ------------------------------------------------------------------

    def _loop(self, drain: bool) -> None:
        next_tick = 0.0
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if self.schedules is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self._settings.schedule_check_s
                    self._tick()
                free = self.concurrency - len(self._active)
                claimed = self.queue.claim(self.name, free) if free > 0 else []
                idle = not claimed and not self._active
                if drain and idle and self._drained():
                    return
            except StoreUnavailableError as exc:
                failures += 1
                log.warning("worker %s: %s (attempt %d)", self.name, exc.message, failures)
                self._wake.wait(min(self._settings.poll_s * 2**failures, _MAX_PAUSE_S))
                continue
            failures = 0
            for job in claimed:
                self._start(job)
            if not claimed or len(self._active) >= self.concurrency:
                self._wake.wait(self._settings.poll_s)

    def _tick(self) -> None:
        assert self.schedules is not None
        try:
            enqueue_due(self.queue, self.schedules())
        except StoreUnavailableError:
            raise
        except ModelyardError as exc:  # a broken pipeline module must not stop the worker
            log.warning("worker %s: schedules not checked: %s", self.name, exc.message)

    def _drained(self) -> bool:
        return self.queue.pending() == 0

    # -- one job -------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        ctx = JobContext(job, self.workspace, on_progress=self.observer.job_progress)
        with self._lock:
            self._active[job.id] = _Running(job, ctx)
        self.observer.job_started(job)
        threading.Thread(
            target=self._execute, args=(job, ctx), name=f"job-{job.id[:8]}", daemon=True
        ).start()

    def _execute(self, job: Job, ctx: JobContext) -> None:
        outcome = LOST
        try:
            try:
                result = self.queue.kinds.get(job.kind).execute(ctx, job.payload)
            except BaseException as exc:
                outcome = self._failed(job, ctx, exc)
            else:
                outcome = (
                    JobStatus.SUCCEEDED if self._write(self.queue.succeed, job, result) else LOST
                )
        finally:
            with self._lock:
                still_ours = self._active.pop(job.id, None) is not None
                if still_ours:  # not given back by a hurried shutdown meanwhile
                    self.outcomes[str(outcome)] += 1
            self._wake.set()
            if still_ours:
                self.observer.job_ended(job, str(outcome))

    def _failed(self, job: Job, ctx: JobContext, exc: BaseException) -> str:
        if ctx.stop_reason == "lost":
            return LOST
        if ctx.stop_reason == "shutdown" and isinstance(exc, JobCancelledError):
            return RELEASED if self._write(self.queue.release, job) else LOST
        if not isinstance(exc, ModelyardError):  # the traceback is kept with the job
            log.debug("job %s (%s) raised", job.id, job.kind, exc_info=exc)
        after = self._write(self.queue.fail, job, exc)
        if after is None:
            return LOST
        return RETRYING if after.status == JobStatus.QUEUED else str(after.status)

    def _write(self, action: Callable[..., T], *args: Any) -> T | None:
        """``action(*args)``, retried while the database is unreachable (not past the
        lease: by then another worker may own the job)."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(StoreUnavailableError),
            wait=tenacity.wait_exponential(multiplier=0.1, max=_MAX_PAUSE_S),
            stop=tenacity.stop_after_delay(max(self._settings.lease_s, 10.0)),
            reraise=True,
        )
        try:
            return retrying(action, *args)
        except StoreUnavailableError as exc:
            log.warning("worker %s: outcome of a job not recorded: %s", self.name, exc.message)
            return None

    # -- leases --------------------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self._halted.wait(self._settings.heartbeat_s):
            with self._lock:
                running = dict(self._active)
            if not running:
                continue
            try:
                beat = self.queue.heartbeat(
                    self.name, {i: r.ctx.latest_progress for i, r in running.items()}
                )
            except Exception as exc:  # the next beat tries again; leases outlast a few
                log.warning("worker %s: heartbeat skipped: %s", self.name, exc)
                continue
            for job_id, entry in running.items():
                if job_id not in beat.held:
                    entry.ctx.stop("lost")
                elif job_id in beat.cancel:
                    entry.ctx.stop("cancel")

    def _shutdown(self) -> None:
        """Let running jobs finish within the grace period, then stop and release them."""
        deadline = time.monotonic() + self._settings.shutdown_grace_s
        while self._active and time.monotonic() < deadline and not self._hurry.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
        with self._lock:
            running = list(self._active.values())
        for entry in running:
            entry.ctx.stop("shutdown")
        deadline = time.monotonic() + min(1.0, self._settings.shutdown_grace_s)
        while self._active and time.monotonic() < deadline:
            self._wake.wait(0.05)
            self._wake.clear()
        with self._lock:
            stuck, self._active = list(self._active.values()), {}
        for entry in stuck:  # handlers that ignore cancellation: give their jobs back
            released = self._write(self.queue.release, entry.job)
            outcome = RELEASED if released else LOST
            with self._lock:
                self.outcomes[outcome] += 1
            self.observer.job_ended(entry.job, outcome)
