"""Value objects of the job queue: a job's status and a job as stored."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Job", "JobStatus"]


class JobStatus(enum.StrEnum):
    """Where a job is in its life.

    ``QUEUED → RUNNING → SUCCEEDED``; a failed attempt goes back to ``QUEUED`` (after a
    backoff) until ``max_attempts``, then ``DEAD`` (the dead letter). An error a retry cannot
    fix (bad input) is ``FAILED`` at once. ``CANCELLED`` is final too; ``retry`` queues a
    dead, failed or cancelled job again.
    """

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    DEAD = "DEAD"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class Job:
    """One job as the metadata database holds it. Times are epoch milliseconds (UTC).

    Attributes:
        run_after: the job is not claimed before this time (set by retry backoff).
        lease_owner: the worker that holds the job while it runs.
        lease_expires_at: when another worker may take the job over, unless renewed.
        progress: the running attempt's latest ``{"stage", "done", "total"}``.
        error: the last attempt's error ``{"code", "message", "type", "attempt"}``.
    """

    id: str
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    priority: int
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    run_after: int
    lease_owner: str | None
    lease_expires_at: int | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: int
    updated_at: int
    started_at: int | None
    ended_at: int | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        values = dict(row._mapping)
        values["status"] = JobStatus(values["status"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
