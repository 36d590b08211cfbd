"""Schedules: cron expressions (croniter) or plain intervals such as ``30s``, ``5m``, ``1h``.

``modelyard data run --every`` drives a pipeline by its schedule until the automation
worker takes this over; both use :func:`next_fire`.
"""

from __future__ import annotations

import datetime as dt

from croniter import croniter

from modelyard.data._checks_table import parse_duration
from modelyard.errors import ValidationError

__all__ = ["check_schedule", "next_fire", "parse_duration"]


def _is_duration(schedule: str) -> bool:
    try:
        parse_duration(schedule)
    except ValidationError:
        return False
    return True


def check_schedule(schedule: str) -> str:
    """``schedule`` if it is a cron expression or a duration; ValidationError otherwise."""
    if _is_duration(schedule) or croniter.is_valid(schedule):
        return schedule
    raise ValidationError(
        f"schedule {schedule!r} is neither a cron expression ('*/15 * * * *') "
        "nor an interval ('30s', '15m', '1h')"
    )


def next_fire(schedule: str, after: dt.datetime) -> dt.datetime:
    """When ``schedule`` next fires strictly after ``after`` (a timezone-aware time)."""
    check_schedule(schedule)
    if _is_duration(schedule):
        return after + parse_duration(schedule)
    fire: dt.datetime = croniter(schedule, after).get_next(dt.datetime)
    return fire
