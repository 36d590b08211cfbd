"""A heavy job's handler as one Ray task, while the worker that claimed the job keeps it.

The worker submits the handler with the job and its payload, then waits on the task: its
own heartbeats keep the job's lease, the task's progress reports reach it through a small
actor, and a cancelled job (or a lost lease, or a worker shutting down) cancels the task.
The task opens the workspace from the worker's settings, so the runs, model versions and
decisions it writes land in the same stores. A task that raised hands back its exception,
which the queue records (and retries) as it would have in process; a task whose process
died fails the attempt, and the queue's own retries take it from there (Ray does not run it
again behind the queue's back).

On a remote cluster (``ray://``) the task runs on another machine: the workspace folder
travels as the job's working directory (without the state folder; Ray Client uploads it
when it connects, see ``Workspace.compute``), and the stores must be ones
every machine reaches: a metadata database server, not SQLite, and an object store (or a
shared mount), not the state folder's artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import ConfigError, JobCancelledError

if TYPE_CHECKING:
    from modelyard.compute._ray import RayCompute
    from modelyard.config import Settings
    from modelyard.jobs import JobContext, JobKind
    from modelyard.jobs._types import Job

__all__ = ["check_shared_stores", "run_job_on_ray"]

_POLL_S = 0.25


class _Reports:
    """The progress a running task reported last (polled by the worker)."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] | None = None

    def put(self, progress: dict[str, Any]) -> None:
        self.latest = progress

    def get(self) -> dict[str, Any] | None:
        return self.latest


def check_shared_stores(settings: Settings) -> None:
    """ConfigError unless the metadata database and artifact store of ``settings`` are
    reachable from other machines (what a remote Ray cluster needs)."""
    problems = []
    if settings.resolved_metadata_url().startswith("sqlite"):
        problems.append("metadata_url is SQLite (use PostgreSQL)")
    artifacts = settings.resolved_artifacts_url()
    local = "://" not in artifacts or artifacts.startswith("file://")
    if local and Path(artifacts.removeprefix("file://")).is_relative_to(settings.state_path):
        problems.append("artifacts_url is the state folder (use s3:// or a shared mount)")
    if problems:
        raise ConfigError(
            f"compute = {settings.compute!r} runs jobs on other machines, which cannot "
            f"reach this workspace's stores: {'; '.join(problems)}"
        )


def run_job_on_ray(
    compute: RayCompute, kind: JobKind, ctx: JobContext, payload: Any
) -> dict[str, Any]:
    """Run ``kind``'s handler for ``ctx.job`` as a Ray task; its result, or its error."""
    settings = ctx.workspace.settings
    remote = compute.address is not None
    if remote:  # the workspace folder is the job's working_dir (Workspace.compute)
        check_shared_stores(settings)
    ray = compute.ray
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "name": f"job:{kind.name}"}
    reports = ray.remote(num_cpus=0)(_Reports).remote()
    task = ray.remote(**options)(_run_task)
    ref = task.remote(settings, remote, kind.name, ctx.job, payload, reports)
    seen: dict[str, Any] | None = None
    try:
        while True:
            ready, _ = ray.wait([ref], timeout=_POLL_S)
            latest = ray.get(reports.get.remote())
            if latest is not None and latest != seen:
                seen = latest
                ctx.progress(**latest)  # raises JobCancelledError once the job should stop
            ctx.raise_if_cancelled()
            if ready:
                return _outcome(ray, ref)
    except JobCancelledError:
        ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(reports)


def _outcome(ray: Any, ref: Any) -> dict[str, Any]:
    """The task's result; the exception its handler raised, as that exception."""
    try:
        result: dict[str, Any] = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
    return result


def _run_task(
    settings: Settings, remote: bool, kind: str, job: Job, payload: Any, reports: Any
) -> dict[str, Any]:
    """What runs on the cluster: open the workspace, run the handler, close."""
    from modelyard._workspace import Workspace
    from modelyard.jobs import JobContext, JobKinds

    if remote:  # the workspace folder arrived as this task's working directory
        settings = settings.model_copy(update={"workspace": Path.cwd()})
    workspace = Workspace(settings)
    try:
        workspace.start()
        kinds = JobKinds.load(settings.jobs.kind_modules, workspace.path)
        ctx = JobContext(job, workspace, on_progress=lambda _job, p: reports.put.remote(p))
        return kinds.get(kind).run(ctx, payload)
    finally:
        workspace.close()
