"""``modelyard worker`` and ``modelyard jobs list|show|cancel|retry|enqueue|kinds``."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_duration, fmt_time, stderr
from modelyard.errors import ValidationError
from modelyard.jobs._schedules import KIND

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.jobs import Job, Worker

jobs_app = typer.Typer(help="The durable job queue.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
JobId = Annotated[str, typer.Argument(metavar="ID", help="Job id (or a unique prefix).")]
_STYLE = {
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "QUEUED": "blue",
    "FAILED": "red",
    "DEAD": "red",
    "CANCELLED": "yellow",
    "RELEASED": "yellow",
    "RETRYING": "yellow",
    "LOST": "yellow",
}


def _status(status: str) -> str:
    return f"[{_STYLE.get(status, 'white')}]{status}[/]"


@app.command("worker")
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=256, help="Jobs run at once.")
    ] = 1,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once no job is queued or running.")
    ] = False,
    schedules: Annotated[
        bool,
        typer.Option("--schedules/--no-schedules", help="Enqueue the runs of scheduled pipelines."),
    ] = True,
) -> None:
    """Run jobs until Ctrl-C or SIGTERM: running jobs then get ``[jobs] shutdown_grace_s``
    to finish and are given back to the queue if they do not; a second signal hurries.

    Heavy kinds (train, retrain) and batch scoring run where the ``compute`` setting says:
    here, or on Ray (``MODELYARD_COMPUTE=ray-local`` or ``ray://host:10001``)."""
    from modelyard.jobs import Worker

    ws = open_workspace(ctx)
    if ws.settings.compute != "local":  # connect now, from the main thread, and fail fast
        ws.compute.start()
    use_schedules = schedules and ws.settings.jobs.schedules and not drain
    with _Display() as display:
        runner = Worker(
            ws.jobs,
            ws,
            concurrency=concurrency,
            schedules=(lambda: _pipeline_schedules(ws)) if use_schedules else None,
            observer=display,
        )
        heavy = [k.name for k in ws.jobs.kinds if k.heavy]
        stderr.print(
            f"worker {runner.name}: {concurrency} slot(s), kinds {', '.join(ws.jobs.kinds.names())}"
            f"; {', '.join(heavy) or 'no kind'} and batch_predict on compute "
            f"{ws.settings.compute!r}"
        )
        with _stop_on_signals(runner):
            outcomes = runner.run(drain=drain)
    summary = ", ".join(f"{n} {o.lower()}" for o, n in sorted(outcomes.items())) or "no jobs"
    stderr.print(f"worker {runner.name} stopped: {summary}")


def _pipeline_schedules(ws: Workspace) -> Mapping[str, str]:
    """The scheduled pipelines, and the alert rules' evaluation (``[jobs] alerts_every``)."""
    found = {n: p.schedule for n, p in ws.pipelines.definitions().items() if p.schedule}
    every = ws.settings.jobs.alerts_every
    if every:
        found[f"{KIND}evaluate_alerts"] = every
    return found


@contextmanager
def _stop_on_signals(runner: Worker) -> Iterator[None]:
    """SIGINT and SIGTERM stop the worker gracefully; the second one hurries it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        hurry = len(received) > 1
        stderr.print(
            "stopping now: releasing running jobs"
            if hurry
            else "stopping: running jobs may finish (signal again to release them)"
        )
        runner.stop(now=hurry)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Display:
    """A worker observer: one line per finished job, a progress bar per running job."""

    def __init__(self) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr,
            transient=True,
            disable=not stderr.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> _Display:
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(None, None, None)

    def job_started(self, job: Job) -> None:
        with self._lock:
            self._tasks[job.id] = self._bars.add_task(f"{job.kind} {job.id[:8]}", total=None)

    def job_progress(self, job: Job, progress: dict[str, Any]) -> None:
        with self._lock:
            task = self._tasks.get(job.id)
            if task is not None:
                self._bars.update(
                    task,
                    description=f"{job.kind} {job.id[:8]} {progress['stage']}",
                    completed=progress["done"],
                    total=progress["total"] or None,
                )

    def job_ended(self, job: Job, outcome: str) -> None:
        with self._lock:
            task = self._tasks.pop(job.id, None)
            if task is not None:
                self._bars.remove_task(task)
        style = _STYLE.get(outcome, "white")
        stderr.print(
            f"{fmt_time(job.started_at)}  [{style}]{outcome:<9}[/] {job.kind} {job.id} "
            f"(attempt {job.attempts}/{job.max_attempts})"
        )


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="queued, running, dead...")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, newest first, and how many are in each status."""
    queue = open_workspace(ctx).jobs
    found = queue.list(status=status, kind=kind, limit=limit)
    if as_json:
        emit_json([j.to_dict() for j in found])
        return
    counts = ", ".join(f"{n} {s.lower()}" for s, n in queue.counts().items() if n)
    table = Table(
        "id",
        "kind",
        "status",
        "priority",
        "attempts",
        "created",
        "took",
        "error",
        title=f"jobs ({counts or 'none'})",
        title_justify="left",
    )
    for j in found:
        took = j.ended_at - j.started_at if j.ended_at and j.started_at else None
        table.add_row(
            j.id[:12],
            j.kind,
            _status(j.status) + (" (cancel requested)" if j.cancel_requested else ""),
            str(j.priority),
            f"{j.attempts}/{j.max_attempts}",
            fmt_time(j.created_at),
            fmt_duration(took),
            escape((j.error or {}).get("message", "-"))[:60],
        )
    console.print(table)


@jobs_app.command("show")
def show(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """A job: payload, status, attempts, lease, progress, result or last error."""
    job = open_workspace(ctx).jobs.get(job_id)
    if as_json:
        emit_json(job.to_dict())
        return
    _print_job(job)


def _print_job(job: Job) -> None:
    console.print(f"[bold]job {job.id}[/]  {job.kind}  {_status(job.status)}")
    rows = [
        ("key", job.idempotency_key or "-"),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("created", fmt_time(job.created_at)),
        ("run after", fmt_time(job.run_after)),
        ("started", fmt_time(job.started_at)),
        ("ended", fmt_time(job.ended_at)),
    ]
    if job.lease_owner:
        rows.append(("lease", f"{job.lease_owner} until {fmt_time(job.lease_expires_at)}"))
    if job.cancel_requested:
        rows.append(("cancel", "requested"))
    if job.progress:
        p = job.progress
        rows.append(("progress", f"{p['stage']} {p['done']}/{p['total']}"))
    for name, value in rows:
        console.print(f"  {name:<10} {escape(value)}")
    console.print(f"  payload    {escape(json.dumps(job.payload))}")
    if job.result is not None:
        console.print(f"  result     {escape(json.dumps(job.result, default=str))}")
    if job.error is not None:
        console.print(f"  [red]error[/]      {escape(job.error.get('message', ''))}")


@jobs_app.command("cancel")
def cancel(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """Cancel a queued job, or ask the worker of a running one to stop it."""
    job = open_workspace(ctx).jobs.cancel(job_id)
    if as_json:
        emit_json(job.to_dict())
    elif job.status == "CANCELLED":
        console.print(f"cancelled job {job.id}")
    else:
        console.print(f"asked the worker of job {job.id} to stop it")


@jobs_app.command("retry")
def retry(ctx: typer.Context, job_id: JobId, as_json: JsonOpt = False) -> None:
    """Queue a failed, dead or cancelled job again, with all its attempts."""
    job = open_workspace(ctx).jobs.retry(job_id)
    emit_json(job.to_dict()) if as_json else console.print(f"queued job {job.id} again")


@jobs_app.command("enqueue")
def enqueue(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="A job kind (see `modelyard jobs kinds`).")],
    payload: Annotated[
        str, typer.Option("--payload", "-p", help="The job's input as a JSON object.")
    ] = "{}",
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key: the same key, the same job.")
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Higher runs first.")] = 0,
    max_attempts: Annotated[
        int | None, typer.Option("--max-attempts", min=1, help="Attempts before it is dead.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a job to the queue (a worker runs it)."""
    try:
        body = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--payload is not JSON: {exc}") from None
    job = open_workspace(ctx).jobs.enqueue(
        kind, body, key=key, priority=priority, max_attempts=max_attempts
    )
    emit_json(job.to_dict()) if as_json else console.print(f"job {job.id} {_status(job.status)}")


@jobs_app.command("kinds")
def kinds(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The job kinds workers of this workspace run."""
    found = list(open_workspace(ctx).jobs.kinds)
    if as_json:
        emit_json(
            [
                {
                    "name": k.name,
                    "description": k.description,
                    "payload": k.payload.model_json_schema() if k.payload else None,
                }
                for k in found
            ]
        )
        return
    for k in found:
        console.print(f"[bold]{k.name:<16}[/] {escape(k.description)}")
