"""A heavy job kind for the tests of jobs on Ray (named by ``[jobs] kind_modules``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from modelyard.errors import ValidationError
from modelyard.jobs import JobContext, job_kind


@job_kind("crunch", heavy=True, max_attempts=1)
def crunch(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Report progress step by step, record a run, and say which process ran it."""
    if "pid_file" in payload:
        Path(str(payload["pid_file"])).write_text(str(os.getpid()))
    steps = int(payload.get("steps", 3))
    for step in range(steps):
        time.sleep(float(payload.get("pause", 0.0)))
        ctx.progress("crunch", step + 1, steps)
    if payload.get("fail"):
        raise ValidationError("crunch was asked to fail")
    with ctx.workspace.start_run("crunch", params={"pid": os.getpid()}) as run:
        run.log_metric("steps", steps)
    return {"pid": os.getpid(), "run_id": run.id}
