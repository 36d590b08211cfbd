"""The durable job queue: jobs are rows of the metadata database.

A worker *claims* jobs in one write transaction: on PostgreSQL ``SELECT ... FOR UPDATE
SKIP LOCKED`` lets workers take different rows at once; on SQLite the same statements run
under ``BEGIN IMMEDIATE``, which serializes writers across processes. A claim sets a
lease; the worker's heartbeat renews it. Leases that ran out (a worker was killed) are
reaped by the next claim: the job goes back to the queue after a backoff, or to ``DEAD``
once it used ``max_attempts``. Every write a worker makes about a job is fenced by its
lease (owner and attempt), so a worker that lost a job can never record its result.
"""

from __future__ import annotations

import builtins
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, select, update

from modelyard._ids import new_id, now_ms
from modelyard.config import JobSettings
from modelyard.errors import (
    ConflictError,
    JobCancelledError,
    JobNotFoundError,
    JobStateError,
    ModelyardError,
    NotFoundError,
    ValidationError,
)
from modelyard.jobs._kinds import JobKinds
from modelyard.jobs._types import Job, JobStatus
from modelyard.store import Database
from modelyard.store._schema import jobs
from modelyard.store._sql import insert_ignore

__all__ = ["Beat", "JobQueue"]

_PERMANENT = (ValidationError, NotFoundError, ConflictError)  # a retry cannot fix these
_CANCELLABLE = [str(JobStatus.QUEUED), str(JobStatus.RUNNING)]
_RETRYABLE = [str(JobStatus.FAILED), str(JobStatus.DEAD), str(JobStatus.CANCELLED)]
_NO_LEASE = {"lease_owner": None, "lease_expires_at": None}


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat learnt: the jobs still held, and those to cancel."""

    held: frozenset[str]
    cancel: frozenset[str]


class JobQueue:
    """Enqueue, inspect, cancel and retry jobs; claim and finish them (workers).

    Example:
        >>> payload = {"pipeline": "transactions"}
        >>> job = ws.jobs.enqueue("pipeline", payload, key="tx-2024-01-01")
        >>> ws.jobs.enqueue("pipeline", payload, key="tx-2024-01-01").id == job.id
        True
    """

    def __init__(self, db: Database, settings: JobSettings, kinds: JobKinds) -> None:
        self.db = db
        self.settings = settings
        self.kinds = kinds
        self._next_reap = 0.0  # time.monotonic() of the next look for expired leases
        self._idle = True  # the last claim found nothing
        # SQLite has one writer at a time: this process's threads queue here rather than
        # in SQLite's busy handler, whose sleeps grow to 100 ms per try
        self._local_writer = threading.Lock() if db.dialect == "sqlite" else nullcontext()

    # -- producers -----------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        delay_s: float = 0.0,
    ) -> Job:
        """Add a job; with ``key``, a job enqueued before with the same key is returned
        instead (a ConflictError if it was for another kind or payload).

        Args:
            kind: a registered job kind (UnknownJobKindError names the known ones).
            payload: the kind's input, validated now (ValidationError, nothing stored).
            key: an idempotency key: the same key always names the same job.
            priority: higher runs first.
            max_attempts: attempts before the job is dead (default: the kind's, else
                ``[jobs] max_attempts``).
            delay_s: not run before this many seconds from now.
        """
        spec = self.kinds.get(kind)
        body = spec.parse(payload or {})
        if key is not None and not 0 < len(key) <= 255:
            raise ValidationError("an idempotency key has 1 to 255 characters")
        attempts = self._max_attempts(spec.max_attempts, max_attempts)
        now = now_ms()
        run_after = now + max(0, round(delay_s * 1000))
        row = _row(kind, body, key, priority, attempts, run_after, now)
        with self._write() as conn:
            if key is None:
                conn.execute(jobs.insert(), [row])
                return _fetch(conn, row["id"])
            insert_ignore(conn, jobs, [row], ["idempotency_key"])
            job = Job.from_row(
                conn.execute(select(jobs).where(jobs.c.idempotency_key == key)).one()
            )
        if job.id != row["id"] and (job.kind, job.payload) != (kind, body):
            raise ConflictError(
                f"idempotency key {key!r} already names job {job.id} ({job.kind}) "
                "with another payload",
                details={"key": key, "job_id": job.id},
            )
        return job

    def enqueue_many(
        self,
        kind: str,
        payloads: Sequence[Mapping[str, Any]],
        *,
        priority: int = 0,
        max_attempts: int | None = None,
    ) -> builtins.list[str]:
        """Add one job per payload in one transaction (all or none); returns their ids."""
        spec = self.kinds.get(kind)
        bodies = [spec.parse(p) for p in payloads]
        attempts = self._max_attempts(spec.max_attempts, max_attempts)
        now = now_ms()
        rows = [_row(kind, body, None, priority, attempts, now, now) for body in bodies]
        if rows:
            with self._write() as conn:
                conn.execute(jobs.insert(), rows)
        return [row["id"] for row in rows]

    def get(self, job_id: str) -> Job:
        """The job of id ``job_id`` (or a unique prefix of at least 6 characters)."""
        with self.db.read() as conn:
            return Job.from_row(_find(conn, job_id))

    def list(
        self,
        *,
        status: JobStatus | str | None = None,
        kind: str | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Jobs, newest first."""
        query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs.c.status == str(_status(status)))
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        with self.db.read() as conn:
            return [Job.from_row(r) for r in conn.execute(query)]

    def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status."""
        query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        with self.db.read() as conn:
            found = {JobStatus(s): n for s, n in conn.execute(query)}
        return {status: found.get(status, 0) for status in JobStatus}

    def pending(self) -> int:
        """How many jobs of the kinds this queue knows are queued or running."""
        query = select(func.count()).where(
            jobs.c.status.in_([str(JobStatus.QUEUED), str(JobStatus.RUNNING)]),
            jobs.c.kind.in_(self.kinds.names()),
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once; ask the worker of a running job to stop it."""
        with self._write() as conn:
            job = Job.from_row(_find(conn, job_id, lock=True))
            if job.status not in _CANCELLABLE:
                raise JobStateError(job.id, "cancelled", job.status, _CANCELLABLE)
            now = now_ms()
            if job.status == JobStatus.QUEUED:
                values: dict[str, Any] = {"status": str(JobStatus.CANCELLED), "ended_at": now}
            else:
                values = {"cancel_requested": True}
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(updated_at=now, **values))
            return _fetch(conn, job.id)

    def retry(self, job_id: str) -> Job:
        """Queue a failed, dead or cancelled job again, with all its attempts."""
        with self._write() as conn:
            job = Job.from_row(_find(conn, job_id, lock=True))
            if job.status not in _RETRYABLE:
                raise JobStateError(job.id, "retried", job.status, _RETRYABLE)
            now = now_ms()
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(
                    status=str(JobStatus.QUEUED),
                    attempts=0,
                    run_after=now,
                    cancel_requested=False,
                    ended_at=None,
                    updated_at=now,
                )
            )
            return _fetch(conn, job.id)

    # -- workers -------------------------------------------------------------------------

    def claim(self, owner: str, limit: int = 1) -> builtins.list[Job]:
        """Lease up to ``limit`` due jobs of the kinds this queue knows to ``owner``, highest
        priority first, after reaping the jobs whose leases ran out.

        After a claim that found nothing, a read looks first, so that idle workers polling
        an empty queue do not take SQLite's write lock; the claim itself is one statement.
        """
        now = now_ms()
        reap = time.monotonic() >= self._next_reap
        if reap:
            self._next_reap = time.monotonic() + self.settings.lease_s / 4
        if self._idle or limit < 1:
            with self.db.read() as conn:
                reap = reap and conn.execute(self._expired(now).limit(1)).first() is not None
                due = limit > 0 and conn.execute(self._due(now).limit(1)).first() is not None
            if not (reap or due):
                return []
        with self._write() as conn:
            if reap:
                self._reap(conn, now)
            if limit < 1:
                return []
            picked = (
                self._due(now)
                .order_by(jobs.c.priority.desc(), jobs.c.run_after, jobs.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .cte("picked")
            )
            claimed = conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(select(picked.c.id)))
                .values(
                    status=str(JobStatus.RUNNING),
                    attempts=jobs.c.attempts + 1,
                    lease_owner=owner,
                    lease_expires_at=now + self._lease_ms,
                    progress=None,
                    started_at=now,
                    updated_at=now,
                )
                .returning(*jobs.c)
            )
            found = [Job.from_row(row) for row in claimed]
        self._idle = not found
        return sorted(found, key=lambda j: (-j.priority, j.run_after, j.id))

    def _due(self, now: int) -> Select[tuple[str]]:
        return select(jobs.c.id).where(
            jobs.c.status == str(JobStatus.QUEUED),
            jobs.c.run_after <= now,
            jobs.c.kind.in_(self.kinds.names()),
        )

    def _expired(self, now: int) -> Select[tuple[str]]:
        return select(jobs.c.id).where(
            jobs.c.status == str(JobStatus.RUNNING), jobs.c.lease_expires_at < now
        )

    def heartbeat(self, owner: str, progress: Mapping[str, dict[str, Any] | None]) -> Beat:
        """Renew ``owner``'s leases of the jobs in ``progress`` (id → latest progress)."""
        if not progress:
            return Beat(frozenset(), frozenset())
        now = now_ms()
        held, cancel = set(), set()
        with self._write() as conn:
            for job_id, latest in progress.items():
                row = conn.execute(
                    update(jobs)
                    .where(_leased(job_id, owner))
                    .values(lease_expires_at=now + self._lease_ms, progress=latest, updated_at=now)
                    .returning(jobs.c.cancel_requested)
                ).first()
                if row is not None:
                    held.add(job_id)
                    if row.cancel_requested:
                        cancel.add(job_id)
        return Beat(frozenset(held), frozenset(cancel))

    def succeed(self, job: Job, result: Mapping[str, Any]) -> bool:
        """Record the result of ``job`` (as claimed); False if its lease was lost."""
        now = now_ms()
        with self._write() as conn:
            done = conn.execute(
                update(jobs)
                .where(_leased(job.id, job.lease_owner, job.attempts))
                .values(
                    status=str(JobStatus.SUCCEEDED),
                    result=dict(result),
                    error=None,
                    ended_at=now,
                    updated_at=now,
                    **_NO_LEASE,
                )
            )
        return done.rowcount == 1

    def fail(self, job: Job, exc: BaseException) -> Job | None:
        """Record a failed attempt of ``job``: queued again after a backoff, or FAILED (bad
        input), DEAD (no attempts left), CANCELLED (it was asked to stop). None if the
        lease was lost."""
        with self._write() as conn:
            row = conn.execute(
                select(jobs).where(_leased(job.id, job.lease_owner, job.attempts)).with_for_update()
            ).first()
            if row is None:
                return None
            error = _error(exc, job.attempts)
            return self._end_attempt(conn, Job.from_row(row), error, exc, now_ms())

    def release(self, job: Job) -> bool:
        """Give ``job`` back to the queue unfinished (a worker shutting down); the attempt
        is not counted, and a job asked to cancel is cancelled. False if its lease was lost."""
        now = now_ms()
        status = case(
            (jobs.c.cancel_requested, str(JobStatus.CANCELLED)), else_=str(JobStatus.QUEUED)
        )
        with self._write() as conn:
            done = conn.execute(
                update(jobs)
                .where(_leased(job.id, job.lease_owner, job.attempts))
                .values(
                    status=status,
                    attempts=jobs.c.attempts - 1,
                    run_after=now,
                    updated_at=now,
                    **_NO_LEASE,
                )
            )
        return done.rowcount == 1

    # -- internals -----------------------------------------------------------------------

    def _max_attempts(self, kind_default: int | None, given: int | None) -> int:
        attempts = given if given is not None else kind_default or self.settings.max_attempts
        if attempts < 1:
            raise ValidationError(f"max_attempts must be at least 1, not {attempts}")
        return attempts

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._local_writer, self.db.write() as conn:
            yield conn

    @property
    def _lease_ms(self) -> int:
        return round(self.settings.lease_s * 1000)

    def backoff_ms(self, attempts: int) -> int:
        """The pause before attempt ``attempts + 1``: ``backoff_s`` doubled per attempt."""
        seconds: float = self.settings.backoff_s * 2.0 ** max(attempts - 1, 0)
        return round(min(seconds, self.settings.backoff_max_s) * 1000)

    def _reap(self, conn: Connection, now: int) -> None:
        expired = conn.execute(
            select(jobs).where(jobs.c.id.in_(self._expired(now))).with_for_update(skip_locked=True)
        ).all()
        for row in expired:
            job = Job.from_row(row)
            error = {
                "code": "lease_expired",
                "message": f"worker {job.lease_owner} stopped renewing its lease "
                "(killed, or cut off from the database)",
                "type": "LeaseExpired",
                "attempt": job.attempts,
            }
            self._end_attempt(conn, job, error, None, now)

    def _end_attempt(
        self,
        conn: Connection,
        job: Job,
        error: dict[str, Any],
        exc: BaseException | None,
        now: int,
    ) -> Job:
        values: dict[str, Any] = {"error": error, "updated_at": now, **_NO_LEASE}
        if job.cancel_requested and (exc is None or isinstance(exc, JobCancelledError)):
            values.update(status=str(JobStatus.CANCELLED), ended_at=now)
        elif isinstance(exc, _PERMANENT):
            values.update(status=str(JobStatus.FAILED), ended_at=now)
        elif job.attempts >= job.max_attempts:
            values.update(status=str(JobStatus.DEAD), ended_at=now)
        else:  # after a lost lease, the lease itself was the pause
            pause = self.backoff_ms(job.attempts) if exc is not None else 0
            values.update(status=str(JobStatus.QUEUED), run_after=now + pause)
        conn.execute(update(jobs).where(jobs.c.id == job.id).values(**values))
        return _fetch(conn, job.id)


def _row(
    kind: str,
    payload: dict[str, Any],
    key: str | None,
    priority: int,
    max_attempts: int,
    run_after: int,
    now: int,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "kind": kind,
        "payload": payload,
        "status": str(JobStatus.QUEUED),
        "priority": priority,
        "idempotency_key": key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
    }


def _leased(job_id: str, owner: str | None, attempts: int | None = None) -> Any:
    condition = and_(
        jobs.c.id == job_id, jobs.c.lease_owner == owner, jobs.c.status == str(JobStatus.RUNNING)
    )
    return condition if attempts is None else and_(condition, jobs.c.attempts == attempts)


def _error(exc: BaseException, attempt: int) -> dict[str, Any]:
    code = exc.code if isinstance(exc, ModelyardError) else "internal_error"
    message = exc.message if isinstance(exc, ModelyardError) else f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc, limit=-8))
    return {
        "code": code,
        "message": message,
        "type": type(exc).__name__,
        "attempt": attempt,
        "traceback": trace[-4000:],
    }


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(str(value).upper())
    except ValueError:
        known = ", ".join(s.lower() for s in JobStatus)
        raise ValidationError(f"job status {value!r} is not one of {known}") from None


def _find(conn: Connection, job_id: str, *, lock: bool = False) -> Any:
    query = select(jobs).where(jobs.c.id == job_id)
    if len(job_id) < 32:
        if len(job_id) < 6:
            raise JobNotFoundError(job_id)
        query = select(jobs).where(jobs.c.id.startswith(job_id, autoescape=True)).limit(2)
    if lock:
        query = query.with_for_update()
    rows = conn.execute(query).all()
    if not rows:
        raise JobNotFoundError(job_id)
    if len(rows) > 1:
        raise ValidationError(f"job id prefix {job_id!r} is ambiguous; give more characters")
    return rows[0]


def _fetch(conn: Connection, job_id: str) -> Job:
    return Job.from_row(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())
