"""Retraining policies: when a deployment's model is trained again, and how the new
version must prove itself.

Policies live in the workspace's ``policies.toml``, one table per deployment::

    [policies.fraud]            # the deployment
    recipe = "fraud"            # recipes/*.py
    schedule = "1d"             # cron ("0 3 * * *") or an interval
    on_drift = true             # an open drift alert (drift_share, prediction_drift, drift:*)
    on_performance = true       # an open alert on accuracy, f1, roc_auc, rmse...
    on_new_data = true          # a new version of the recipe's dataset
    cooldown = "1h"             # at least this long between two retrainings

    [policies.fraud.gate]       # see modelyard.automation.gate
    metric = "roc_auc"
    margin = 0.002

    [policies.fraud.canary]     # see CanaryConfig
    share = 0.1
    predictions = 500

:func:`evaluate_policies` checks each policy once: when a trigger holds (and no retraining
or canary of the deployment is under way, and the cooldown passed), it enqueues a
``retrain`` job (train, gate, canary) and records why in the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard._ids import now_ms
from modelyard.automation._canary import CHAMPION, CanaryConfig, list_canaries
from modelyard.automation._decisions import DecisionKind, DecisionLog
from modelyard.errors import AliasNotFoundError, ModelyardError, ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.jobs import Job

__all__ = [
    "POLICIES_FILE",
    "GateSettings",
    "Policy",
    "Trigger",
    "evaluate_policies",
    "load_policies",
]

log = logging.getLogger(__name__)

POLICIES_FILE = "policies.toml"
_DRIFT_PREFIXES = ("drift_share", "prediction_drift", "drift:")
_PENDING = ("QUEUED", "RUNNING")


class GateSettings(BaseModel):
    """The gate a retrained version must pass (see :func:`~modelyard.automation.gate`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str | None = None
    margin: float = 0.0
    test: Literal["paired_bootstrap", "mcnemar"] = "paired_bootstrap"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    window: str = "7d"
    min_samples: int = Field(default=30, ge=1)
    require_production: bool = False
    holdout: str | None = None  # a dataset ref; default: the holdout the recipe kept
    label: str | None = None


class Policy(BaseModel):
    """When a deployment's model is retrained, and how the new version is rolled out."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    deployment: str
    recipe: str
    schedule: str | None = None
    on_drift: bool = False
    on_performance: bool = False
    on_new_data: bool = False
    cooldown_s: float = Field(default=3600.0, ge=0, alias="cooldown")
    gate: GateSettings = GateSettings()
    canary: CanaryConfig = CanaryConfig()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        from modelyard.data._schedule import check_schedule

        return None if value is None else check_schedule(value)

    @field_validator("cooldown_s", mode="before")
    @classmethod
    def _cooldown(cls, value: Any) -> Any:
        from modelyard.data._checks_table import parse_duration

        return parse_duration(value).total_seconds() if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Trigger:
    """A retraining a policy asked for: the job, and why."""

    deployment: str
    job: Job
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "job_id": self.job.id, "reasons": self.reasons}


def load_policies(ws: Workspace) -> dict[str, Policy]:
    """The policies of the workspace's ``policies.toml`` (none without one), by deployment."""
    path = ws.path / POLICIES_FILE
    if not path.is_file():
        return {}
    try:
        tables = tomllib.loads(path.read_text()).get("policies", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from None
    policies = {}
    for deployment, table in tables.items():
        try:
            policies[deployment] = Policy(deployment=deployment, **table)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ValidationError(f"invalid policy {deployment!r} in {path}: {problems}") from None
    return policies


def evaluate_policies(
    ws: Workspace, policies: dict[str, Policy] | None = None, *, now: int | None = None
) -> list[Trigger]:
    """Check every policy once; enqueue a ``retrain`` job for each whose trigger holds."""
    now = now_ms() if now is None else now
    found = []
    for policy in (policies if policies is not None else load_policies(ws)).values():
        try:
            reasons = _reasons(ws, policy, now)
        except ModelyardError as exc:  # one broken policy does not stop the others
            log.warning("policy of %s cannot be evaluated: %s", policy.deployment, exc)
            continue
        if reasons:
            found.append(_trigger(ws, policy, reasons, now))
    return found


def _reasons(ws: Workspace, policy: Policy, now: int) -> list[str]:
    """Why ``policy``'s deployment should be retrained now (nothing: it should not)."""
    deployment = policy.deployment
    model = ws.deployments.get(deployment).spec.model
    if any(c.running and c.deployment == deployment for c in list_canaries(ws, deployment)):
        return []
    if _retraining(ws, deployment):
        return []
    last = DecisionLog(ws.db).latest(DecisionKind.RETRAIN, deployment=deployment)
    if last is not None and now - last.at < policy.cooldown_s * 1000:
        return []
    since = last.at if last is not None else _champion_time(ws, model)
    reasons = []
    if policy.schedule is not None:
        from modelyard.data._schedule import next_fire

        due = next_fire(policy.schedule, _time(since))
        if due <= _time(now):
            reasons.append(f"schedule {policy.schedule}: due since {due.isoformat()}")
    if policy.on_drift or policy.on_performance:
        for alert in ws.monitoring.alerts.list(status="open"):
            if alert.deployment != deployment or alert.fired_at <= since:
                continue
            metric = str(alert.evidence.get("rule", {}).get("metric", ""))
            drift = metric.startswith(_DRIFT_PREFIXES)
            if (drift and policy.on_drift) or (not drift and policy.on_performance):
                kind = "drift" if drift else "performance"
                reasons.append(f"{kind} alert {alert.rule}: {alert.evidence.get('condition')}")
    if policy.on_new_data:
        reasons += _new_data(ws, policy, model, since)
    return reasons


def _retraining(ws: Workspace, deployment: str) -> bool:
    """Whether a retrain job of ``deployment`` is queued or running."""
    return any(
        job.payload.get("deployment") == deployment
        for status in _PENDING
        for job in ws.jobs.list(kind="retrain", status=status, limit=1000)
    )


def _champion_time(ws: Workspace, model: str) -> int:
    try:
        return ws.registry.resolve(f"models:/{model}@{CHAMPION}").created_at
    except AliasNotFoundError:
        return 0


def _new_data(ws: Workspace, policy: Policy, model: str, since: int) -> list[str]:
    """A version of the recipe's dataset newer than ``since`` that the champion was not
    trained on."""
    from modelyard.automation._recipes import get_recipe

    dataset = get_recipe(ws, policy.recipe).dataset.partition("@")[0]
    latest = ws.datasets.latest(dataset)
    if latest is None or latest.created_at <= since:
        return []
    try:
        champion = ws.registry.resolve(f"models:/{model}@{CHAMPION}")
    except AliasNotFoundError:
        champion = None
    if champion is not None and champion.run_id is not None:
        inputs = ws.tracking.get_run(champion.run_id).inputs
        if any(i.ref.endswith(latest.id) for i in inputs):
            return []
    return [f"new data: {latest.ref} ({latest.rows:,} rows)"]


def _trigger(ws: Workspace, policy: Policy, reasons: list[str], now: int) -> Trigger:
    deployment = policy.deployment
    job = ws.jobs.enqueue(
        "retrain",
        {"deployment": deployment, "reason": "; ".join(reasons)},
        key=f"retrain:{deployment}:{now}",
    )
    model = ws.deployments.get(deployment).spec.model
    DecisionLog(ws.db).record(
        DecisionKind.RETRAIN,
        model,
        outcome="triggered",
        summary=f"retraining {deployment} (job {job.id[:12]}): {'; '.join(reasons)}",
        evidence={"reasons": reasons, "policy": policy.model_dump(by_alias=True)},
        deployment=deployment,
        job_id=job.id,
    )
    return Trigger(deployment, job, tuple(reasons))


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
