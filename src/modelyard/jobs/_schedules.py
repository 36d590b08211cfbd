"""Schedule ticks as jobs: workers enqueue the runs of scheduled pipelines.

Each schedule keeps its next tick in ``job_schedules``. When a tick is due, a worker
enqueues the pipeline job under the idempotency key ``schedule:<pipeline>:<tick>`` and
then moves the tick on with a compare-and-set. Two workers that see the same due tick
enqueue the same job (the key), and only one moves the tick; a worker that dies between
the two steps leaves the tick due, and the next one finds the job already there. Ticks
missed while no worker ran are skipped, not replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select, update

from modelyard._ids import now_ms
from modelyard.jobs._queue import JobQueue
from modelyard.jobs._types import Job
from modelyard.store._schema import job_schedules
from modelyard.store._sql import upsert

__all__ = ["KIND", "enqueue_due"]

KIND = "kind:"  # a schedule of a job kind (no payload), not of a pipeline


def enqueue_due(queue: JobQueue, schedules: Mapping[str, str], now: int | None = None) -> list[Job]:
    """Enqueue a ``pipeline`` job for every pipeline in ``schedules`` (name → cron or
    interval) whose tick is due at ``now`` (epoch ms), and a job of kind K, without a
    payload, for a name ``kind:K`` (e.g. ``kind:evaluate_alerts``); returns the jobs of
    due ticks."""
    from modelyard.data._schedule import next_fire  # the data package is heavy to import

    now = now_ms() if now is None else now
    with queue.db.read() as conn:
        stored = {r.name: r for r in conn.execute(select(job_schedules))}
    found = []
    for pipeline, schedule in sorted(schedules.items()):
        kind = pipeline.removeprefix(KIND) if pipeline.startswith(KIND) else None
        name = pipeline if kind else f"pipeline:{pipeline}"
        row = stored.get(name)
        if row is None or row.schedule != schedule:
            _restart(queue, name, schedule, now)
            continue
        if row.next_fire > now:
            continue
        tick = _time(row.next_fire)
        when = tick.isoformat(timespec="milliseconds")
        job = queue.enqueue(
            kind or "pipeline",
            {} if kind else {"pipeline": pipeline, "scheduled_for": when},
            key=f"schedule:{pipeline}:{when}",
        )
        following = next_fire(schedule, max(tick, _time(now)))
        with queue.db.write() as conn:
            conn.execute(
                update(job_schedules)
                .where(job_schedules.c.name == name, job_schedules.c.next_fire == row.next_fire)
                .values(next_fire=_ms(following), last_job_id=job.id, updated_at=now)
            )
        found.append(job)
    return found


def _restart(queue: JobQueue, name: str, schedule: str, now: int) -> None:
    """Start (or restart, for a changed schedule) counting ticks from ``now``."""
    from modelyard.data._schedule import next_fire

    row = {
        "name": name,
        "schedule": schedule,
        "next_fire": _ms(next_fire(schedule, _time(now))),
        "updated_at": now,
    }
    with queue.db.write() as conn:
        upsert(
            conn,
            job_schedules,
            [row],
            ["name"],
            ["schedule", "next_fire", "updated_at"],
            where=lambda table, new: table.c.schedule != new.schedule,
        )


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)
