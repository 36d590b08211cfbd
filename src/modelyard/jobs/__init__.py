"""The durable job queue: jobs in the metadata database, run by workers with leases.

Example:
    >>> job = ws.jobs.enqueue("pipeline", {"pipeline": "transactions"}, key="tx-nightly")
    >>> Worker(ws.jobs, ws, concurrency=2).run(drain=True)
    {'SUCCEEDED': 1}
    >>> ws.jobs.get(job.id).status
    <JobStatus.SUCCEEDED: 'SUCCEEDED'>

More job kinds are declared with :func:`job_kind` in a module named by ``[jobs]
kind_modules``.
"""

from __future__ import annotations

from modelyard.jobs._batch_predict import BatchPredictPayload
from modelyard.jobs._builtin import MaterializePayload, PipelinePayload
from modelyard.jobs._context import JobContext
from modelyard.jobs._kinds import Handler, JobKind, JobKinds, job_kind
from modelyard.jobs._queue import Beat, JobQueue
from modelyard.jobs._schedules import enqueue_due
from modelyard.jobs._types import Job, JobStatus
from modelyard.jobs._worker import Worker, WorkerObserver

__all__ = [
    "BatchPredictPayload",
    "Beat",
    "Handler",
    "Job",
    "JobContext",
    "JobKind",
    "JobKinds",
    "JobQueue",
    "JobStatus",
    "MaterializePayload",
    "PipelinePayload",
    "Worker",
    "WorkerObserver",
    "enqueue_due",
    "job_kind",
]
