"""Retraining a deployment's model: train with its recipe, gate the new version against
the champion, and give it a canary when it passes. Every step is idempotent under a key (a
job passes its id), so a retried job carries on where the previous attempt stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.automation._canary import CHAMPION, Canary, start_canary
from modelyard.automation._decisions import DecisionKind, DecisionLog
from modelyard.automation._gate import GateResult, gate
from modelyard.automation._policy import Policy, load_policies
from modelyard.automation._recipes import TrainResult, get_recipe, train
from modelyard.errors import ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = ["RetrainResult", "retrain"]


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What a retraining did: the version trained, the gate's verdict, and the canary (or
    None: the version failed the gate, or, with no champion yet, became it directly)."""

    deployment: str
    trained: TrainResult
    passed: bool
    summary: str
    canary: Canary | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "trained": self.trained.to_dict(),
            "gate": {"passed": self.passed, "summary": self.summary},
            "canary": self.canary.to_dict() if self.canary is not None else None,
        }


def retrain(
    ws: Workspace,
    deployment: str,
    *,
    recipe: str | None = None,
    policy: Policy | None = None,
    key: str | None = None,
    job_id: str | None = None,
) -> RetrainResult:
    """Train, gate and (on a pass) start a canary for ``deployment``.

    The recipe, gate settings and canary come from ``policy`` (default: the deployment's
    policy in ``policies.toml``, if any); ``recipe`` names the recipe without a policy.
    """
    policy = policy or load_policies(ws).get(deployment)
    name = recipe or (policy.recipe if policy is not None else None)
    if name is None:
        raise ValidationError(
            f"deployment {deployment!r} has no policy in policies.toml; name a recipe"
        )
    spec = ws.deployments.get(deployment).spec
    chosen = get_recipe(ws, name)
    if chosen.model != spec.model:
        raise ValidationError(
            f"recipe {name!r} trains model {chosen.model!r}, but deployment {deployment!r} "
            f"serves {spec.model!r}"
        )
    trained = train(ws, chosen, key=f"{key}:train" if key else None, job_id=job_id)
    verdict = _gate(ws, deployment, trained, policy, chosen.checks, job_id)
    canary = None
    if verdict.passed:
        canary = _roll_out(ws, deployment, trained, verdict, policy, job_id)
    return RetrainResult(deployment, trained, verdict.passed, verdict.summary, canary)


def _gate(
    ws: Workspace,
    deployment: str,
    trained: TrainResult,
    policy: Policy | None,
    checks: Any,
    job_id: str | None,
) -> GateResult:
    """The gate's verdict on the trained version (the recorded one, for a retried job)."""
    version = trained.version
    if job_id is not None:
        for decision in DecisionLog(ws.db).list(
            version.name, kind=DecisionKind.GATE, job_id=job_id
        ):
            if decision.version == version.version:
                evidence = decision.evidence
                return _recorded(evidence)
    settings = policy.gate if policy is not None else None
    return gate(
        ws,
        version.uri,
        CHAMPION,
        holdout=settings.holdout if settings else None,
        label=settings.label if settings else None,
        deployment=deployment,
        window=settings.window if settings else "7d",
        metric=settings.metric if settings else None,
        margin=settings.margin if settings else 0.0,
        test=settings.test if settings else "paired_bootstrap",
        alpha=settings.alpha if settings else 0.05,
        min_samples=settings.min_samples if settings else 30,
        require_production=settings.require_production if settings else False,
        checks=checks,
        job_id=job_id,
    )


def _recorded(evidence: dict[str, Any]) -> GateResult:
    return GateResult(
        passed=bool(evidence["passed"]),
        candidate=evidence["candidate"],
        champion=evidence.get("champion"),
        against=evidence.get("against", CHAMPION),
        summary=evidence["summary"],
        checks=(),
        settings=evidence.get("settings", {}),
        decision_id=evidence.get("decision_id"),
    )


def _roll_out(
    ws: Workspace,
    deployment: str,
    trained: TrainResult,
    verdict: GateResult,
    policy: Policy | None,
    job_id: str | None,
) -> Canary | None:
    """A canary for the version; with no champion to compare with, it becomes the
    champion directly."""
    version = trained.version
    if verdict.champion is None:
        ws.registry.set_alias(
            version.name, CHAMPION, version.version, reason=f"first champion: {verdict.summary}"
        )
        return None
    config = policy.canary if policy is not None else None
    return start_canary(
        ws, deployment, version.version, config, reason=verdict.summary, job_id=job_id
    )
