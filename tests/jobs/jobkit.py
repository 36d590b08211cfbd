"""Job kinds for the job tests, loaded by workers through ``[jobs] kind_modules`` (this
file's path), in the test process and in worker processes alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelyard.errors import ValidationError
from modelyard.jobs import JobContext, job_kind

HERE = str(Path(__file__).resolve())


def append(path: str, line: str) -> None:
    """One ``write`` on an O_APPEND file: lines from many processes never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@job_kind("noop")
def noop(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Do nothing; with ``file``, record the execution there."""
    if "file" in payload:
        append(payload["file"], f"{ctx.job.id} {ctx.attempt} {os.getpid()}")
    return {"n": payload.get("n")}


@job_kind("record")
def record(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Write start, sleep, fail (``fail_times`` first attempts), else write done.

    The sleep (``sleep`` seconds, cancellable) is only in the first ``sleep_attempts``.
    """
    append(payload["file"], f"start {ctx.job.id} {ctx.attempt}")
    if ctx.attempt <= int(payload.get("sleep_attempts", 1_000)):
        ctx.wait(float(payload.get("sleep", 0)))
    if ctx.attempt <= int(payload.get("fail_times", 0)):
        raise RuntimeError(f"failing attempt {ctx.attempt}")
    append(payload["file"], f"done {ctx.job.id} {ctx.attempt}")
    return {"attempt": ctx.attempt}


@job_kind("reject")
def reject(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Fail with bad input, which no retry can fix."""
    raise ValidationError("this job's input is wrong")


@job_kind("unjsonable")
def unjsonable(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Return a result that JSON cannot hold."""
    return {"ids": {1, 2}}
