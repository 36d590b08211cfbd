"""Schedules: cron expressions (croniter) or plain intervals such as ``30s``, ``5m``, ``1h``.

``modelyard data run --every`` drives a pipeline by its schedule until the automation
worker takes this over; both use :func:`next_fire`.
"""

from __future__ import annotations

import datetime as dt
import re

from croniter import croniter

from modelyard.errors import ValidationError

__all__ = ["check_schedule", "next_fire", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> dt.timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValidationError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def check_schedule(schedule: str) -> str:
    """``schedule`` if it is a cron expression or a duration; ValidationError otherwise."""
    if _DURATION.match(schedule) or croniter.is_valid(schedule):
        return schedule
    raise ValidationError(
        f"schedule {schedule!r} is neither a cron expression ('*/15 * * * *') "
        "nor an interval ('30s', '15m', '1h')"
    )


def next_fire(schedule: str, after: dt.datetime) -> dt.datetime:
    """When ``schedule`` next fires strictly after ``after`` (a timezone-aware time)."""
    check_schedule(schedule)
    if _DURATION.match(schedule):
        return after + parse_duration(schedule)
    fire: dt.datetime = croniter(schedule, after).get_next(dt.datetime)
    return fire
