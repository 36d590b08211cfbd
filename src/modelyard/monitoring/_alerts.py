"""Alert rules over monitoring metrics, and the alerts they raise.

A rule names a deployment, a metric, a comparison, a threshold, a window and a minimum
number of samples: ``accuracy < 0.9 over 1 day, at least 200 labels``. Evaluating it
measures the metric over the window ending now; with too few samples nothing changes.
When the condition holds and the rule has no open alert, an alert *fires*, once, with its
evidence (value, samples, window, details), and its webhook gets an HTTP POST (retried
with backoff; the outcome is stored with the alert). While the condition keeps holding
nothing new fires; an open alert can be acknowledged; when the condition clears, the alert
resolves itself (and the webhook hears that too). A delivery that failed every retry is
tried again at the next evaluations (for a day), so a receiver that was down for a while
still hears of it.

Metrics: ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``, ``log_loss``,
``mae``, ``rmse``, ``r2`` (from labels); ``latency_p50_ms``, ``latency_p95_ms``,
``latency_p99_ms``, ``error_rate``, ``throughput_rps`` (health); ``drift_share``,
``prediction_drift`` and ``drift:<column>`` (drift scores).
"""

from __future__ import annotations

import builtins
import enum
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, update
from tenacity import retry, stop_after_attempt, wait_exponential

from modelyard._ids import current_user, new_id, now_ms
from modelyard.errors import AlertNotFoundError, ConflictError, ValidationError
from modelyard.store import Database
from modelyard.store._schema import alert_rules, alerts

__all__ = [
    "HEALTH_METRICS",
    "PERFORMANCE_METRICS",
    "Alert",
    "AlertRule",
    "AlertStatus",
    "AlertStore",
    "Measurement",
]

PERFORMANCE_METRICS = (
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "r2",
)  # fmt: skip
HEALTH_METRICS = (
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "throughput_rps",
)  # fmt: skip
_DRIFT = re.compile(r"^(drift_share|prediction_drift|drift:[A-Za-z0-9_.\-]+)$")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_REDELIVERIES = 20  # evaluations that retry a failed webhook delivery


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


_OPEN = (AlertStatus.FIRING.value, AlertStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """When to raise an alert: ``metric comparison threshold`` over ``window_s``."""

    name: str
    deployment: str
    metric: str
    comparison: str
    threshold: float
    window_s: int
    min_samples: int = 1
    webhook: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not _NAME.match(self.name):
            problems.append(f"rule name {self.name!r}: use letters, digits, _ . -")
        if self.metric not in (*PERFORMANCE_METRICS, *HEALTH_METRICS) and not _DRIFT.match(
            self.metric
        ):
            known = ", ".join((*PERFORMANCE_METRICS, *HEALTH_METRICS))
            problems.append(
                f"unknown metric {self.metric!r} (metrics: {known}, drift_share, "
                "prediction_drift, drift:<column>)"
            )
        if self.comparison not in _COMPARE:
            problems.append(f"comparison {self.comparison!r}: use one of <, <=, >, >=")
        if self.window_s <= 0:
            problems.append("the window must be positive")
        if self.min_samples < 1:
            problems.append("min_samples must be at least 1")
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            problems.append(f"webhook {self.webhook!r} is not an http(s) URL")
        if problems:
            raise ValidationError("invalid alert rule: " + "; ".join(problems))

    def holds(self, value: float) -> bool:
        return _COMPARE[self.comparison](value, self.threshold)

    def describe(self) -> str:
        return f"{self.metric} {self.comparison} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deployment": self.deployment,
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "window_s": self.window_s,
            "min_samples": self.min_samples,
            "webhook": self.webhook,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class Measurement:
    """A metric measured for a rule: its value (None: not measurable now), the samples it
    rests on, and the details shown as evidence."""

    value: float | None
    samples: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule: str
    deployment: str
    status: AlertStatus
    value: float | None
    evidence: dict[str, Any]
    fired_at: int
    acknowledged_at: int | None
    acknowledged_by: str | None
    resolved_at: int | None
    delivery: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "deployment": self.deployment,
            "status": self.status.value,
            "value": self.value,
            "evidence": self.evidence,
            "fired_at": self.fired_at,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at,
            "delivery": self.delivery,
        }


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        rule=row.rule,
        deployment=row.deployment,
        status=AlertStatus(row.status),
        value=row.value,
        evidence=row.evidence,
        fired_at=row.fired_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        delivery=row.delivery,
    )


def _rule(row: Any) -> AlertRule:
    return AlertRule(
        name=row.name,
        deployment=row.deployment,
        metric=row.metric,
        comparison=row.comparison,
        threshold=row.threshold,
        window_s=row.window_s,
        min_samples=row.min_samples,
        webhook=row.webhook,
        enabled=row.enabled,
    )


class AlertStore:
    """Rules and alerts in the metadata database; :meth:`evaluate` runs the rules."""

    def __init__(self, db: Database, *, webhook_timeout_s: float = 5.0, attempts: int = 3) -> None:
        self.db = db
        self.webhook_timeout_s = webhook_timeout_s
        self.attempts = attempts

    # -- rules ------------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule, *, replace: bool = False) -> AlertRule:
        """Store ``rule``; a taken name is a ConflictError unless ``replace``."""
        now = now_ms()
        row = {**rule.to_dict(), "created_at": now, "updated_at": now}
        with self.db.write() as conn:
            exists = conn.execute(
                select(alert_rules.c.name).where(alert_rules.c.name == rule.name)
            ).first()
            if exists and not replace:
                raise ConflictError(
                    f"alert rule {rule.name!r} exists; give --replace to change it",
                    details={"rule": rule.name},
                )
            if exists:
                del row["created_at"]
                conn.execute(update(alert_rules).where(alert_rules.c.name == rule.name), row)
            else:
                conn.execute(alert_rules.insert(), row)
        return rule

    def rules(self) -> list[AlertRule]:
        with self.db.read() as conn:
            rows = conn.execute(select(alert_rules).order_by(alert_rules.c.name)).all()
        return [_rule(r) for r in rows]

    def rule(self, name: str) -> AlertRule:
        with self.db.read() as conn:
            row = conn.execute(select(alert_rules).where(alert_rules.c.name == name)).first()
        if row is None:
            raise AlertNotFoundError("alert rule", name, [r.name for r in self.rules()])
        return _rule(row)

    def delete_rule(self, name: str) -> None:
        with self.db.write() as conn:
            deleted = conn.execute(alert_rules.delete().where(alert_rules.c.name == name))
        if deleted.rowcount == 0:
            raise AlertNotFoundError("alert rule", name, [r.name for r in self.rules()])

    # -- alerts -----------------------------------------------------------------------------

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, newest first; ``status`` filters (``open`` = firing or acknowledged)."""
        query = select(alerts).order_by(alerts.c.fired_at.desc(), alerts.c.id).limit(limit)
        if status == "open":
            query = query.where(alerts.c.status.in_(_OPEN))
        elif status is not None:
            try:
                query = query.where(alerts.c.status == AlertStatus(status).value)
            except ValueError:
                known = ", ".join(["open", *(s.value for s in AlertStatus)])
                raise ValidationError(f"unknown alert status {status!r} (use {known})") from None
        with self.db.read() as conn:
            return [_alert(r) for r in conn.execute(query).all()]

    def get(self, alert_id: str) -> Alert:
        with self.db.read() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.id.startswith(alert_id))).all()
        if len(rows) != 1:
            if rows:
                raise ValidationError(f"alert id {alert_id!r} is ambiguous; give more of it")
            raise AlertNotFoundError("alert", alert_id)
        return _alert(rows[0])

    def acknowledge(self, alert_id: str, *, by: str | None = None) -> Alert:
        """Acknowledge an open alert (idempotent); a resolved one is a ConflictError."""
        alert = self.get(alert_id)
        if alert.status is AlertStatus.RESOLVED:
            raise ConflictError(
                f"alert {alert.id} resolved itself already; nothing to acknowledge",
                details={"alert": alert.id},
            )
        if alert.status is AlertStatus.FIRING:
            with self.db.write() as conn:
                conn.execute(
                    update(alerts)
                    .where((alerts.c.id == alert.id) & (alerts.c.status == AlertStatus.FIRING))
                    .values(
                        status=AlertStatus.ACKNOWLEDGED.value,
                        acknowledged_at=now_ms(),
                        acknowledged_by=by or current_user(),
                    )
                )
        return self.get(alert.id)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, measure: Callable[[AlertRule], Measurement]) -> builtins.list[Alert]:
        """Run every enabled rule once; the alerts that fired or resolved now."""
        changed: list[Alert] = []
        rules = self.rules()
        for rule in rules:
            if not rule.enabled:
                continue
            measurement = measure(rule)
            alert = self._apply(rule, measurement)
            if alert is not None:
                changed.append(alert)
        self._redeliver({r.name: r for r in rules}, {a.id for a in changed})
        return changed

    def _redeliver(self, rules: dict[str, AlertRule], just_sent: set[str]) -> None:
        """Deliver again what a webhook missed (it was down) in the last day, at most
        :data:`_REDELIVERIES` evaluations, so a receiver down for a while still hears."""
        since = now_ms() - 86_400_000
        with self.db.read() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.fired_at >= since)).all()
        for row in rows:
            alert = _alert(row)
            rule = rules.get(alert.rule)
            delivery = alert.delivery or {}
            if (
                alert.id in just_sent
                or rule is None
                or delivery.get("status") != "failed"
                or len(delivery.get("history", [])) >= _REDELIVERIES
            ):
                continue
            self._deliver(alert, rule, str(delivery.get("event", "fired")))

    def _open(self, rule: str) -> Alert | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(alerts).where((alerts.c.rule == rule) & alerts.c.status.in_(_OPEN))
            ).first()
        return _alert(row) if row is not None else None

    def _apply(self, rule: AlertRule, measurement: Measurement) -> Alert | None:
        current = self._open(rule.name)
        if measurement.value is None or measurement.samples < rule.min_samples:
            return None  # not enough evidence either way: nothing changes
        holds = rule.holds(measurement.value)
        evidence = {
            "rule": rule.to_dict(),
            "condition": rule.describe(),
            "value": measurement.value,
            "samples": measurement.samples,
            "window_s": rule.window_s,
            "measured_at": now_ms(),
            "details": measurement.details,
        }
        if holds and current is None:
            alert_id = new_id()
            with self.db.write() as conn:
                conn.execute(
                    alerts.insert(),
                    {
                        "id": alert_id,
                        "rule": rule.name,
                        "deployment": rule.deployment,
                        "status": AlertStatus.FIRING.value,
                        "value": measurement.value,
                        "evidence": evidence,
                        "fired_at": now_ms(),
                    },
                )
            return self._deliver(self.get(alert_id), rule, "fired")
        if not holds and current is not None:
            with self.db.write() as conn:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == current.id)
                    .values(status=AlertStatus.RESOLVED.value, resolved_at=now_ms())
                )
            return self._deliver(self.get(current.id), rule, "resolved")
        return None

    def _deliver(self, alert: Alert, rule: AlertRule, event: str) -> Alert:
        """POST the alert to the rule's webhook, retried with backoff; the outcome is
        stored with the alert (a failed delivery never fails the evaluation)."""
        if rule.webhook is None:
            return alert
        payload = {"event": event, "alert": alert.to_dict()}
        tries = 0

        @retry(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        )
        def post() -> None:
            nonlocal tries
            tries += 1
            response = httpx.post(rule.webhook or "", json=payload, timeout=self.webhook_timeout_s)
            response.raise_for_status()

        try:
            post()
            outcome: dict[str, Any] = {"event": event, "status": "delivered", "attempts": tries}
        except httpx.HTTPError as exc:
            outcome = {"event": event, "status": "failed", "attempts": tries, "error": str(exc)}
        history = [*(alert.delivery or {}).get("history", []), {**outcome, "at": now_ms()}]
        delivery = {**outcome, "history": history}
        with self.db.write() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert.id).values(delivery=delivery))
        return self.get(alert.id)
