"""The automation's job kinds: ``train`` (a recipe), ``evaluate`` (the gate), ``retrain``
(train, gate, canary) and ``automate`` (one round of policies and canaries). Each is
idempotent: a retried job finds what an earlier attempt registered or decided, keyed by the
job's id. ``train`` and ``retrain`` are heavy: with a Ray ``compute`` setting they run as
Ray tasks on the cluster."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.jobs import JobContext, job_kind

__all__ = [
    "AutomatePayload",
    "EvaluatePayload",
    "RetrainPayload",
    "TrainPayload",
    "automate",
    "evaluate",
    "retrain_job",
    "train_job",
]


class TrainPayload(BaseModel):
    """Train a new version with a workspace recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipe: str = Field(min_length=1)


class EvaluatePayload(BaseModel):
    """Run the promotion gate on a candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str = Field(min_length=1)
    against: str = "champion"
    deployment: str | None = None
    holdout: str | None = None
    label: str | None = None
    recipe: str | None = Field(default=None, description="Whose custom checks to run.")
    metric: str | None = None
    margin: float = 0.0
    test: Literal["paired_bootstrap", "mcnemar"] = "paired_bootstrap"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    window: str = "7d"
    require_production: bool = False


class RetrainPayload(BaseModel):
    """Retrain a deployment's model: train, gate, canary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str = Field(min_length=1)
    recipe: str | None = Field(default=None, description="Default: the deployment's policy's.")
    reason: str | None = None


class AutomatePayload(BaseModel):
    """One round of automation: alert rules, policies, canaries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alerts: bool = True


@job_kind("train", payload=TrainPayload, heavy=True)
def train_job(ctx: JobContext, payload: TrainPayload) -> dict[str, Any]:
    """Train and register a new model version with a workspace recipe."""
    from modelyard.automation._recipes import train

    ctx.raise_if_cancelled()
    return train(ctx.workspace, payload.recipe, key=ctx.job.id, job_id=ctx.job.id).to_dict()


@job_kind("evaluate", payload=EvaluatePayload)
def evaluate(ctx: JobContext, payload: EvaluatePayload) -> dict[str, Any]:
    """Judge a candidate against the champion with the promotion gate."""
    from modelyard.automation._decisions import DecisionKind, DecisionLog
    from modelyard.automation._gate import gate
    from modelyard.automation._recipes import get_recipe

    ws = ctx.workspace
    done = DecisionLog(ws.db).list(kind=DecisionKind.GATE, job_id=ctx.job.id, limit=1)
    if done:  # an earlier attempt decided
        return dict(done[0].evidence)
    checks = get_recipe(ws, payload.recipe).checks if payload.recipe else ()
    result = gate(
        ws,
        payload.candidate,
        payload.against,
        holdout=payload.holdout,
        label=payload.label,
        deployment=payload.deployment,
        window=payload.window,
        metric=payload.metric,
        margin=payload.margin,
        test=payload.test,
        alpha=payload.alpha,
        require_production=payload.require_production,
        checks=checks,
        job_id=ctx.job.id,
    )
    return result.to_dict()


@job_kind("retrain", payload=RetrainPayload, heavy=True)
def retrain_job(ctx: JobContext, payload: RetrainPayload) -> dict[str, Any]:
    """Retrain a deployment's model: train, gate, and a canary when it passes."""
    from modelyard.automation._retrain import retrain

    ctx.raise_if_cancelled()
    job = ctx.job.id
    return retrain(
        ctx.workspace, payload.deployment, recipe=payload.recipe, key=job, job_id=job
    ).to_dict()


@job_kind("automate", payload=AutomatePayload)
def automate(ctx: JobContext, payload: AutomatePayload) -> dict[str, Any]:
    """Evaluate alert rules and retraining policies, advance canaries."""
    from modelyard.automation._loop import run_automation

    return run_automation(ctx.workspace, alerts=payload.alerts).to_dict()
