"""Canaries: a challenger serves a share of a deployment's traffic, then is promoted or
rolled back on what it did live.

:func:`start_canary` points the ``challenger`` alias at the version and sets the
deployment's traffic to ``champion=1-share, challenger=share`` (the servers apply it at
their next refresh, atomically). :func:`advance_canary` compares the two targets over the
canary's time so far (:mod:`._live`): error rate, p95 latency, accuracy where labels came
back, and how far the challenger's predictions drift from the champion's. It rolls back at
once when the challenger keeps failing; otherwise, once the challenger answered
``predictions`` rows or ``duration`` passed, it promotes it (``champion`` moved to it) if
every criterion holds, else rolls back; either way the traffic returns to what it was and
the decision, with its evidence, goes to the audit log.

A decision is claimed first (the canary's row moves from ``running`` to ``deciding`` in one
conditional update, so two advancers never both act), then carried out, then finished; an
advancer that died in between leaves ``deciding``, and the next one carries the stored
decision out again (every step is idempotent).
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from modelyard._ids import new_id, now_ms
from modelyard.automation._decisions import DecisionKind, DecisionLog
from modelyard.automation._live import LiveTarget, live_targets
from modelyard.errors import AliasNotFoundError, ConflictError, ModelyardError, ValidationError
from modelyard.store._schema import canaries

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Canary",
    "CanaryConfig",
    "CanaryStatus",
    "advance_canaries",
    "advance_canary",
    "end_canary",
    "list_canaries",
    "start_canary",
]

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


class CanaryStatus(enum.StrEnum):
    RUNNING = "running"
    DECIDING = "deciding"  # a decision was claimed and is being carried out
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class CanaryConfig(BaseModel):
    """How a canary runs and what it must show (``[policies.NAME.canary]`` in TOML).

    Attributes:
        share: the challenger's share of the traffic.
        predictions: challenger predictions that end the canary...
        duration_s: ...or this long, whichever comes first.
        max_error_rate: how much the challenger's error rate may exceed the champion's.
        fail_fast_errors: this many challenger failures over that rate roll back at once.
        max_latency_ratio: the challenger's p95 latency may be this many times the
            champion's, plus ``latency_slack_ms``.
        max_accuracy_drop: how much lower its accuracy (or R2) on labelled predictions may
            be, once both have ``min_labels`` labels.
        max_prediction_drift: block promotion when the challenger's predictions drift from
            the champion's (a retrained model is expected to differ: off by default, the
            drift is reported either way).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    share: float = Field(default=0.1, gt=0, lt=1)
    predictions: int = Field(default=500, ge=1)
    duration_s: float = Field(default=600.0, gt=0)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    fail_fast_errors: int = Field(default=5, ge=1)
    max_latency_ratio: float = Field(default=1.5, ge=1)
    latency_slack_ms: float = Field(default=5.0, ge=0)
    max_accuracy_drop: float = Field(default=0.02, ge=0)
    min_labels: int = Field(default=50, ge=1)
    max_prediction_drift: bool = False


@dataclass(frozen=True, slots=True)
class Canary:
    """A canary as stored; ``evidence`` is the latest live comparison."""

    id: str
    deployment: str
    model: str
    champion_version: int
    challenger_version: int
    status: CanaryStatus
    config: CanaryConfig
    previous_traffic: list[dict[str, Any]]
    started_at: int
    ended_at: int | None
    evidence: dict[str, Any] | None

    @property
    def running(self) -> bool:
        return self.status in (CanaryStatus.RUNNING, CanaryStatus.DECIDING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment": self.deployment,
            "model": self.model,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "status": str(self.status),
            "config": self.config.model_dump(),
            "previous_traffic": self.previous_traffic,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "evidence": self.evidence,
        }


# -- starting -----------------------------------------------------------------------------


def start_canary(
    ws: Workspace,
    deployment: str,
    version: int,
    config: CanaryConfig | None = None,
    *,
    reason: str | None = None,
    job_id: str | None = None,
) -> Canary:
    """Give ``version`` a canary in ``deployment``; the running canary if the same version
    already has one (a retried job), a ConflictError if another one runs."""
    config = config or CanaryConfig()
    spec = ws.deployments.get(deployment).spec
    model = spec.model
    running = _running(ws, deployment)
    if running is not None:
        if running.challenger_version == version:
            return running
        raise ConflictError(
            f"deployment {deployment!r} already runs a canary of version "
            f"{running.challenger_version}; advance or end it first",
            details={"deployment": deployment, "canary": running.id},
        )
    try:
        champion = ws.registry.resolve(f"models:/{model}@{CHAMPION}").version
    except AliasNotFoundError:
        raise ConflictError(
            f"model {model!r} has no champion for a canary to be compared with"
        ) from None
    ws.registry.get_version(model, version)  # ModelVersionNotFoundError
    if version == champion:
        raise ConflictError(f"version {version} of {model!r} is the champion already")
    now = now_ms()
    canary = Canary(
        new_id(),
        deployment,
        model,
        champion,
        version,
        CanaryStatus.RUNNING,
        config,
        [r.model_dump() for r in spec.traffic],
        now,
        None,
        None,
    )
    try:
        with ws.db.write() as conn:
            conn.execute(canaries.insert(), [{**_row(canary), "active": deployment}])
    except DBIntegrityError:
        raise ConflictError(
            f"deployment {deployment!r} started another canary meanwhile",
            details={"deployment": deployment},
        ) from None
    why = reason or f"canary of v{version} on {deployment}: {config.share:.0%} of traffic"
    try:
        _route(ws, canary, spec.shadow, why)
    except BaseException:
        _finish(ws, canary, CanaryStatus.ROLLED_BACK, {"error": "the canary could not start"})
        raise
    DecisionLog(ws.db).record(
        DecisionKind.CANARY_START,
        model,
        outcome="started",
        summary=f"canary started: v{version} gets {config.share:.0%} of {deployment} "
        f"(champion v{champion}); until {config.predictions} predictions or "
        f"{config.duration_s:g}s",
        evidence={"canary": canary.id, "config": config.model_dump(), "reason": why},
        deployment=deployment,
        version=version,
        baseline_version=champion,
        job_id=job_id,
    )
    return canary


def _route(ws: Workspace, canary: Canary, shadow: tuple[str, ...], why: str) -> None:
    """The ``challenger`` alias on the version, and its share of the traffic."""
    ws.registry.set_alias(canary.model, CHALLENGER, canary.challenger_version, reason=why)
    share = canary.config.share
    traffic = [
        {"target": CHAMPION, "weight": 1.0 - share},
        {"target": CHALLENGER, "weight": share},
    ]
    kept = tuple(t for t in shadow if t not in (CHAMPION, CHALLENGER))
    ws.deployments.update(canary.deployment, traffic=traffic, shadow=kept)


# -- advancing ----------------------------------------------------------------------------


def advance_canary(ws: Workspace, deployment: str, *, now: int | None = None) -> Canary | None:
    """Look at the running canary of ``deployment`` (if any): keep it running, promote it
    or roll it back. Returns the canary as it is afterwards."""
    canary = _running(ws, deployment)
    if canary is None:
        return None
    if canary.status is CanaryStatus.DECIDING and canary.evidence is not None:
        return _carry_out(ws, canary, canary.evidence)
    now = now_ms() if now is None else now
    evidence = compare(ws, canary, now)
    if evidence["decision"] is None:
        with ws.db.write() as conn:
            conn.execute(
                update(canaries)
                .where(canaries.c.id == canary.id, canaries.c.status == CanaryStatus.RUNNING)
                .values(evidence=evidence)
            )
        return _get(ws, canary.id)
    with ws.db.write() as conn:
        claimed = conn.execute(
            update(canaries)
            .where(canaries.c.id == canary.id, canaries.c.status == CanaryStatus.RUNNING)
            .values(status=CanaryStatus.DECIDING, evidence=evidence)
        ).rowcount
    if not claimed:  # another advancer decided meanwhile
        return _get(ws, canary.id)
    return _carry_out(ws, _get(ws, canary.id), evidence)


def advance_canaries(ws: Workspace, *, now: int | None = None) -> builtins.list[Canary]:
    """Advance every running canary; those that are running or ended now."""
    advanced = []
    for canary in [c for c in list_canaries(ws) if c.running]:
        try:
            found = advance_canary(ws, canary.deployment, now=now)
        except ModelyardError as exc:  # one canary's trouble does not stop the others
            log.warning("canary on %s cannot be advanced: %s", canary.deployment, exc)
            continue
        if found is not None:
            advanced.append(found)
    return advanced


def end_canary(
    ws: Workspace, deployment: str, *, promote: bool, reason: str, job_id: str | None = None
) -> Canary | None:
    """End the running canary of ``deployment`` now, by hand or by a rollback command."""
    canary = _running(ws, deployment)
    if canary is None:
        return None
    evidence = {
        **(canary.evidence or {}),
        "decision": "promote" if promote else "rollback",
        "reasons": [reason],
        "forced": True,
    }
    with ws.db.write() as conn:
        conn.execute(
            update(canaries)
            .where(canaries.c.id == canary.id)
            .values(status=CanaryStatus.DECIDING, evidence=evidence)
        )
    return _carry_out(ws, _get(ws, canary.id), evidence, job_id=job_id)


def compare(ws: Workspace, canary: Canary, now: int) -> dict[str, Any]:
    """The live comparison of challenger and champion since the canary started, and what
    it decides: ``promote``, ``rollback`` or None (keep running)."""
    config = canary.config
    live = live_targets(
        ws, canary.deployment, [CHAMPION, CHALLENGER], since_ms=canary.started_at, until_ms=now
    )
    champ, chall = live[CHAMPION], live[CHALLENGER]
    elapsed_s = (now - canary.started_at) / 1000
    checks = [
        _errors(champ, chall, config),
        _latency(champ, chall, config),
        _accuracy(ws, canary, now),
        _drift(champ, chall, config),
    ]
    failing = [c for c in checks if c["status"] == "failed"]
    evidence: dict[str, Any] = {
        "elapsed_s": round(elapsed_s, 3),
        "targets": {CHAMPION: champ.to_dict(), CHALLENGER: chall.to_dict()},
        "checks": checks,
        "decision": None,
        "reasons": [],
    }
    champ_rate = champ.error_rate or 0.0
    if chall.errors >= config.fail_fast_errors and (chall.error_rate or 0.0) > (
        champ_rate + config.max_error_rate
    ):
        evidence.update(decision="rollback", reasons=[f"failing fast: {checks[0]['reason']}"])
        return evidence
    done = chall.predictions >= config.predictions or elapsed_s >= config.duration_s
    if not done:
        return evidence
    if chall.requests == 0 and chall.errors == 0:
        evidence.update(decision="rollback", reasons=["the challenger answered no request"])
    elif failing:
        evidence.update(decision="rollback", reasons=[c["reason"] for c in failing])
    else:
        evidence.update(
            decision="promote", reasons=[c["reason"] for c in checks if c["status"] == "passed"]
        )
    return evidence


def _check(name: str, status: str, reason: str, **values: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "reason": reason, **values}


def _errors(champ: LiveTarget, chall: LiveTarget, config: CanaryConfig) -> dict[str, Any]:
    mine, theirs = chall.error_rate or 0.0, champ.error_rate or 0.0
    ok = mine <= theirs + config.max_error_rate
    reason = (
        f"error rate {mine:.2%} ({chall.errors} failed) vs champion {theirs:.2%}"
        f"{'' if ok else f', over by more than {config.max_error_rate:.2%}'}"
    )
    return _check(
        "error_rate", "passed" if ok else "failed", reason, challenger=mine, champion=theirs
    )


def _latency(champ: LiveTarget, chall: LiveTarget, config: CanaryConfig) -> dict[str, Any]:
    if champ.latency_p95_ms is None or chall.latency_p95_ms is None:
        return _check("latency_p95_ms", "skipped", "no latency of both targets yet")
    limit = champ.latency_p95_ms * config.max_latency_ratio + config.latency_slack_ms
    ok = chall.latency_p95_ms <= limit
    reason = f"p95 latency {chall.latency_p95_ms:.1f} ms vs champion {champ.latency_p95_ms:.1f} ms"
    return _check(
        "latency_p95_ms",
        "passed" if ok else "failed",
        reason + ("" if ok else f", over the limit of {limit:.1f} ms"),
        challenger=chall.latency_p95_ms,
        champion=champ.latency_p95_ms,
    )


def _accuracy(ws: Workspace, canary: Canary, now: int) -> dict[str, Any]:
    config = canary.config
    since = dt.timedelta(milliseconds=max(now - canary.started_at, 1))
    windows = ws.monitoring.performance(canary.deployment, window=since, until_ms=now)
    by_version = {w.version: w for w in windows if w.version is not None}
    champ, chall = (
        by_version.get(canary.champion_version),
        by_version.get(canary.challenger_version),
    )
    if champ is None or chall is None or min(champ.samples, chall.samples) < config.min_labels:
        return _check("accuracy", "skipped", f"fewer than {config.min_labels} labels per version")
    metric = "accuracy" if "accuracy" in champ.metrics else "r2"
    if metric not in champ.metrics or metric not in chall.metrics:
        return _check("accuracy", "skipped", "no comparable metric")
    mine, theirs = chall.metrics[metric].value, champ.metrics[metric].value
    ok = mine >= theirs - config.max_accuracy_drop
    return _check(
        "accuracy",
        "passed" if ok else "failed",
        f"{metric} {mine:.4f} vs champion {theirs:.4f} "
        f"({chall.samples} and {champ.samples} labels)",
        metric=metric,
        challenger=mine,
        champion=theirs,
    )


def _drift(champ: LiveTarget, chall: LiveTarget, config: CanaryConfig) -> dict[str, Any]:
    from modelyard.monitoring import build_profile, prediction_drift

    if min(champ.outputs.size, chall.outputs.size) < 30:
        return _check("prediction_drift", "skipped", "fewer than 30 numeric predictions each")
    profile = build_profile(pa.table({"prediction": champ.outputs}))
    drift = prediction_drift(profile, pa.table({"prediction": chall.outputs}))
    blocking = drift.drifted and config.max_prediction_drift
    reason = (
        f"predictions {'drift' if drift.drifted else 'do not drift'} from the champion's "
        f"({drift.method.value} {drift.score:.3g}, threshold {drift.threshold:g})"
    )
    return _check(
        "prediction_drift",
        "failed" if blocking else "passed",
        reason,
        drifted=drift.drifted,
        method=drift.method.value,
        score=drift.score,
    )


# -- deciding -----------------------------------------------------------------------------


def _carry_out(
    ws: Workspace, canary: Canary, evidence: dict[str, Any], *, job_id: str | None = None
) -> Canary:
    """Promote or roll back (each step idempotent), finish the row, record the decision."""
    promote = evidence["decision"] == "promote"
    reasons = "; ".join(evidence.get("reasons") or [])
    model, version = canary.model, canary.challenger_version
    if promote:
        current = ws.registry.resolve(f"models:/{model}@{CHAMPION}").version
        if current != version:
            why = f"canary on {canary.deployment} promoted v{version}: {reasons}"
            ws.registry.set_alias(model, CHAMPION, version, reason=why)
    traffic = [r for r in canary.previous_traffic if r["target"] != CHALLENGER]
    restored = traffic or [{"target": CHAMPION, "weight": 1.0}]
    ws.deployments.update(canary.deployment, traffic=restored)
    _drop_challenger(ws, canary)
    status = CanaryStatus.PROMOTED if promote else CanaryStatus.ROLLED_BACK
    _finish(ws, canary, status, evidence)
    verb = "promoted" if promote else "rolled back"
    DecisionLog(ws.db).record(
        DecisionKind.CANARY_PROMOTE if promote else DecisionKind.CANARY_ROLLBACK,
        model,
        outcome=str(status),
        summary=f"canary {verb}: v{version} on {canary.deployment} "
        f"(champion {'now' if promote else 'stays'} v"
        f"{version if promote else canary.champion_version}): {reasons}",
        evidence={"canary": canary.id, **evidence},
        deployment=canary.deployment,
        version=version,
        baseline_version=canary.champion_version,
        job_id=job_id,
    )
    return _get(ws, canary.id)


def _drop_challenger(ws: Workspace, canary: Canary) -> None:
    """Delete the ``challenger`` alias if it still names this canary's version and no
    deployment routes to it any more."""
    model = ws.registry.get_model(canary.model)
    if model.aliases.get(CHALLENGER) != canary.challenger_version:
        return
    in_use = any(
        d.spec.model == canary.model and CHALLENGER in d.spec.targets for d in ws.deployments.list()
    )
    if not in_use:
        ws.registry.delete_alias(canary.model, CHALLENGER, reason=f"canary {canary.id} ended")


def _finish(ws: Workspace, canary: Canary, status: CanaryStatus, evidence: dict[str, Any]) -> None:
    with ws.db.write() as conn:
        conn.execute(
            update(canaries)
            .where(canaries.c.id == canary.id)
            .values(status=str(status), active=None, ended_at=now_ms(), evidence=evidence)
        )


# -- reading ------------------------------------------------------------------------------


def list_canaries(
    ws: Workspace, deployment: str | None = None, *, limit: int = 50
) -> builtins.list[Canary]:
    """Canaries, newest first (running ones first of all)."""
    query = select(canaries).order_by(
        canaries.c.active.is_(None), canaries.c.started_at.desc(), canaries.c.id
    )
    if deployment is not None:
        query = query.where(canaries.c.deployment == deployment)
    with ws.db.read() as conn:
        return [_canary(r) for r in conn.execute(query.limit(limit)).all()]


def _running(ws: Workspace, deployment: str) -> Canary | None:
    with ws.db.read() as conn:
        row = conn.execute(select(canaries).where(canaries.c.active == deployment)).first()
    return _canary(row) if row is not None else None


def _get(ws: Workspace, canary_id: str) -> Canary:
    with ws.db.read() as conn:
        row = conn.execute(select(canaries).where(canaries.c.id == canary_id)).first()
    if row is None:
        raise ValidationError(f"canary {canary_id} does not exist")
    return _canary(row)


def _row(canary: Canary) -> dict[str, Any]:
    values = canary.to_dict()
    values["status"] = str(canary.status)
    return values


def _canary(row: Any) -> Canary:
    return Canary(
        id=row.id,
        deployment=row.deployment,
        model=row.model,
        champion_version=row.champion_version,
        challenger_version=row.challenger_version,
        status=CanaryStatus(row.status),
        config=CanaryConfig(**row.config),
        previous_traffic=list(row.previous_traffic),
        started_at=row.started_at,
        ended_at=row.ended_at,
        evidence=row.evidence,
    )
