"""The audit log: every automated decision about a model, with the evidence behind it.

A gate's verdict, a retraining trigger, a trained version, a canary's start, promotion or
rollback, and a rollback by command are each one row of the ``decisions`` table, written
once and never changed. Alias moves keep their own history in the registry (with the
decision's summary as their reason); ``modelyard models history`` shows both, newest first.

Example:
    >>> log = DecisionLog(ws.db)
    >>> log.record(DecisionKind.GATE, "fraud", outcome="passed", version=4, evidence={...})
    >>> [d.summary for d in log.list("fraud")]
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from modelyard._ids import current_user, new_id, now_ms
from modelyard.store import Database
from modelyard.store._schema import decisions

__all__ = ["Decision", "DecisionKind", "DecisionLog"]


class DecisionKind(enum.StrEnum):
    """What was decided."""

    GATE = "gate"  # a candidate against the champion: passed or failed
    RETRAIN = "retrain"  # a policy asked for a new version: triggered
    TRAIN = "train"  # a recipe produced a version: trained or reused
    CANARY_START = "canary_start"
    CANARY_PROMOTE = "canary_promote"
    CANARY_ROLLBACK = "canary_rollback"
    ROLLBACK = "rollback"  # the champion returned to its previous version by command


@dataclass(frozen=True, slots=True)
class Decision:
    """One row of the audit log."""

    id: str
    model: str
    deployment: str | None
    kind: DecisionKind
    outcome: str
    version: int | None
    baseline_version: int | None
    summary: str
    evidence: dict[str, Any]
    actor: str | None
    job_id: str | None
    at: int

    def evidence_lines(self) -> builtins.list[str]:
        """The evidence in a few lines: each check with its verdict and why, or the
        reasons given."""
        checks = self.evidence.get("checks") or []
        if checks:
            return [f"{c['name']} {c['status']}: {c['reason']}" for c in checks]
        reasons = self.evidence.get("reasons") or []
        return [str(r) for r in reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "deployment": self.deployment,
            "kind": str(self.kind),
            "outcome": self.outcome,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "summary": self.summary,
            "evidence": self.evidence,
            "actor": self.actor,
            "job_id": self.job_id,
            "at": self.at,
        }


class DecisionLog:
    """Append and read the audit log (the ``decisions`` table)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        kind: DecisionKind,
        model: str,
        *,
        outcome: str,
        summary: str,
        evidence: Mapping[str, Any] | None = None,
        deployment: str | None = None,
        version: int | None = None,
        baseline_version: int | None = None,
        job_id: str | None = None,
        actor: str | None = None,
    ) -> Decision:
        """Append one decision; returns it as stored."""
        decision = Decision(
            id=new_id(),
            model=model,
            deployment=deployment,
            kind=DecisionKind(kind),
            outcome=outcome,
            version=version,
            baseline_version=baseline_version,
            summary=summary,
            evidence=dict(evidence or {}),
            actor=actor or current_user(),
            job_id=job_id,
            at=now_ms(),
        )
        row = decision.to_dict()
        with self.db.write() as conn:
            conn.execute(decisions.insert(), [row])
        return decision

    def list(
        self,
        model: str | None = None,
        *,
        deployment: str | None = None,
        kind: DecisionKind | str | None = None,
        job_id: str | None = None,
        limit: int = 200,
    ) -> builtins.list[Decision]:
        """Decisions, newest first, filtered by model, deployment, kind or job."""
        query = select(decisions).order_by(decisions.c.at.desc(), decisions.c.id.desc())
        if model is not None:
            query = query.where(decisions.c.model == model)
        if deployment is not None:
            query = query.where(decisions.c.deployment == deployment)
        if kind is not None:
            query = query.where(decisions.c.kind == str(DecisionKind(kind)))
        if job_id is not None:
            query = query.where(decisions.c.job_id == job_id)
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [_decision(r) for r in rows]

    def latest(
        self, kind: DecisionKind | str, *, model: str | None = None, deployment: str | None = None
    ) -> Decision | None:
        """The newest decision of ``kind`` (for a model or deployment), if any."""
        found = self.list(model, deployment=deployment, kind=kind, limit=1)
        return found[0] if found else None


def _decision(row: Any) -> Decision:
    values = dict(row._mapping)
    values["kind"] = DecisionKind(values["kind"])
    return Decision(**values)
