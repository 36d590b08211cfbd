"""The built-in job kinds over the data, feature and monitoring layers: ``pipeline``,
``materialize`` and ``evaluate_alerts``. All are idempotent, so a retried job never
duplicates its effect: a pipeline loads each source file or stream range once (a rerun of
an attempt that committed is SKIPPED), materialization writes only what is newer than the
online store holds, and an alert fires once while its condition holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.jobs._context import JobContext
from modelyard.jobs._kinds import job_kind

__all__ = [
    "EvaluateAlertsPayload",
    "MaterializePayload",
    "PipelinePayload",
    "evaluate_alerts",
    "materialize",
    "pipeline",
]


class PipelinePayload(BaseModel):
    """Run one workspace pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: str = Field(min_length=1)
    logical_date: dt.date | None = None
    full_refresh: bool = False
    scheduled_for: str | None = None  # the schedule tick that enqueued the job


class MaterializePayload(BaseModel):
    """Materialize feature views (all when ``views`` is None) into the online store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    views: list[str] | None = None
    until: dt.datetime | None = None


@job_kind("pipeline", payload=PipelinePayload)
def pipeline(ctx: JobContext, payload: PipelinePayload) -> dict[str, Any]:
    """Run a workspace pipeline (extract, check, load) once."""
    run = ctx.workspace.pipelines.run(
        payload.pipeline,
        logical_date=payload.logical_date,
        full_refresh=payload.full_refresh,
        progress=ctx.progress,
    )
    return {"run_id": run.id, "status": str(run.status), "outputs": run.outputs}


@job_kind("materialize", payload=MaterializePayload)
def materialize(ctx: JobContext, payload: MaterializePayload) -> dict[str, Any]:
    """Write what changed in feature views into the online store."""
    ctx.raise_if_cancelled()
    done = ctx.workspace.features.materialize(payload.views, until=payload.until)
    return {
        "views": [
            {
                "view": r.view,
                "entities": r.entities,
                "rows_written": r.rows_written,
                "max_event_timestamp": (
                    r.max_event_timestamp.isoformat() if r.max_event_timestamp else None
                ),
            }
            for r in done
        ]
    }


class EvaluateAlertsPayload(BaseModel):
    """Evaluate every alert rule once (no options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@job_kind("evaluate_alerts", payload=EvaluateAlertsPayload)
def evaluate_alerts(ctx: JobContext, _payload: EvaluateAlertsPayload) -> dict[str, Any]:
    """Evaluate the alert rules: fire, resolve, deliver (idempotent: an alert fires once
    while its condition holds, so a retried evaluation raises nothing twice)."""
    ctx.raise_if_cancelled()
    changed = ctx.workspace.monitoring.evaluate_alerts()
    return {"changed": [{"id": a.id, "rule": a.rule, "status": a.status.value} for a in changed]}
