"""The jobs page: the durable queue's jobs (filtered by status and kind, newest first, one
page at a time), how many are in each state, the kinds workers run, the pipelines whose
schedules workers enqueue, and one job whole (payload, result, error, attempts, progress).

The queue is read even when a ``[jobs] kind_modules`` module does not load (the page says
so): listing jobs needs no kinds.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.errors import ConfigError, ModelyardError, ValidationError
from modelyard.jobs import Job, JobKinds, JobQueue, JobStatus

__all__ = ["PAGE"]

MAX_JOBS = 500
_PREVIEW = 120  # characters of a payload shown in the table


def jobs(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One page of jobs, newest first: ``status``, ``kind`` and ``limit``; ``more`` says
    whether older ones were left out."""
    queue, _ = _queue(ctx)
    status = query.text("status", max_length=20) or None
    kind = query.text("kind", max_length=255) or None
    limit = query.integer("limit", 50, low=1, high=MAX_JOBS)
    found = queue.list(status=status, kind=kind, limit=limit + 1)
    return {"jobs": [_brief(j) for j in found[:limit]], "more": len(found) > limit}


def summary(ctx: UiContext, _query: Query) -> dict[str, Any]:
    """Jobs per state, the kinds workers of this workspace run, and scheduled pipelines."""
    queue, error = _queue(ctx)
    settings = ctx.workspace.settings.jobs
    return {
        "counts": {str(s): n for s, n in queue.counts().items()},
        "kinds": [{"name": k.name, "description": k.description} for k in queue.kinds],
        "kinds_error": error,
        "schedules_enabled": settings.schedules,
        "max_attempts": settings.max_attempts,
        **_schedules(ctx),
    }


def job(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One job (an id or a unique prefix of at least 6 characters), whole."""
    queue, _ = _queue(ctx)
    return queue.get(query["job_id"]).to_dict()


def _queue(ctx: UiContext) -> tuple[JobQueue, str | None]:
    """The workspace's queue; with the built-in kinds only (and why) when a kind module
    does not load."""
    ws = ctx.workspace
    try:
        return ws.jobs, None
    except (ConfigError, ValidationError) as exc:
        return JobQueue(ws.db, ws.settings.jobs, JobKinds.load()), exc.message


def _schedules(ctx: UiContext) -> dict[str, Any]:
    """The pipelines defined with a schedule, each with its next tick (cron expressions;
    an interval counts from when a worker first saw it, which only the worker knows)."""
    try:
        defined = ctx.workspace.pipelines.definitions()
    except ModelyardError as exc:
        return {"schedules": [], "schedules_error": exc.message}
    found = [
        {"pipeline": name, "schedule": p.schedule, "next_fire": _next_cron_tick(p.schedule)}
        for name, p in sorted(defined.items())
        if p.schedule
    ]
    return {"schedules": found, "schedules_error": None}


def _next_cron_tick(schedule: str) -> int | None:
    from modelyard.data._schedule import next_fire, parse_duration

    try:
        parse_duration(schedule)
    except ValidationError:
        try:
            return round(next_fire(schedule, dt.datetime.now(dt.UTC)).timestamp() * 1000)
        except ValidationError:
            return None
    return None  # an interval


def _preview(payload: dict[str, Any]) -> str:
    """``key=value`` for each field that is set, cut at :data:`_PREVIEW` characters."""
    text = " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'), default=str)}"
        for k, v in payload.items()
        if v is not None
    )
    return text if len(text) <= _PREVIEW else f"{text[: _PREVIEW - 1]}…"


def _brief(j: Job) -> dict[str, Any]:
    """A job as a table row: no result, no traceback, the payload in short."""
    payload = _preview(j.payload)
    error = j.error or {}
    return {
        "id": j.id,
        "kind": j.kind,
        "status": str(j.status),
        "priority": j.priority,
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "payload": payload,
        "progress": j.progress,
        "error": {"code": error.get("code"), "message": error.get("message")} if error else None,
        "cancel_requested": j.cancel_requested,
        "run_after": j.run_after,
        "created_at": j.created_at,
        "started_at": j.started_at,
        "ended_at": j.ended_at,
        "retrying": j.status is JobStatus.QUEUED and j.attempts > 0,
    }


PAGE = Page(
    name="jobs",
    title="Jobs",
    routes=(
        ApiRoute("/jobs", jobs),
        ApiRoute("/jobs/summary", summary),
        ApiRoute("/jobs/{job_id}", job),
    ),
)
