"""The monitoring page: per deployment, drift of its inputs and predictions against the
reference, performance per model version from labels (with 95% intervals), service health,
and the alerts with their acknowledgement.

A window is one of :data:`WINDOWS` (each with its own chart bucket), so that no request
asks for more buckets than a chart can show. A deployment without a reference or without
labels is not an error here: the section says what is missing (``available`` false and a
``note``); an unknown deployment is a 404.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from modelyard._ids import now_ms
from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.errors import AlertNotFoundError, NotFoundError, ValidationError
from modelyard.monitoring import PREDICTION, Alert, AlertStatus, ColumnDrift

__all__ = ["PAGE", "WINDOWS"]

WINDOWS = {
    "1h": (3_600_000, 300_000),
    "1d": (86_400_000, 7_200_000),
    "7d": (604_800_000, 86_400_000),
}
"""The windows the page offers: their length and the bucket their charts are drawn over
(milliseconds)."""
DEFAULT_WINDOW = "1d"
ALERT_STATUSES = ("open", "firing", "acknowledged", "resolved", "all")
MAX_ALERTS = 500
_ALERT_ID = re.compile(r"^[0-9a-f]{6,32}$")
_NO_LABELS = (
    "No prediction of this window has a label yet. Labels come back as feedback: "
    "POST /v1/feedback, modelyard feedback add|import, or ws.monitoring.add_feedback(id, label)."
)


def overview(ctx: UiContext, _query: Query) -> dict[str, Any]:
    """Every deployment with its open alerts and rules, and the windows offered."""
    ws = ctx.workspace
    open_alerts = ws.monitoring.alerts.list(status="open", limit=MAX_ALERTS)
    rules = ws.monitoring.alerts.rules()
    deployments = [
        {
            "name": d.name,
            "model": d.spec.model,
            "open_alerts": sum(1 for a in open_alerts if a.deployment == d.name),
            "firing": sum(
                1 for a in open_alerts if a.deployment == d.name and a.status is AlertStatus.FIRING
            ),
            "rules": sum(1 for r in rules if r.deployment == d.name),
        }
        for d in ws.deployments.list()
    ]
    return {"windows": list(WINDOWS), "default_window": DEFAULT_WINDOW, "deployments": deployments}


def alerts(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Alerts, newest first: ``status`` (open, firing, acknowledged, resolved or all),
    ``deployment`` and ``limit``; ``more`` says whether older ones were left out. For one
    deployment, the newest :data:`MAX_ALERTS` of the status are read and filtered."""
    status = query.choice("status", ALERT_STATUSES, "open")
    deployment = query.text("deployment", max_length=255) or None
    limit = query.integer("limit", 100, low=1, high=MAX_ALERTS)
    if deployment is not None:
        ctx.workspace.deployments.get(deployment)  # a 404 that lists them
    store = ctx.workspace.monitoring.alerts
    # the store filters by status only: read enough to fill the page for one deployment
    wanted = limit + 1 if deployment is None else MAX_ALERTS
    found = store.list(status=None if status == "all" else status, limit=wanted)
    if deployment is not None:
        found = [a for a in found if a.deployment == deployment]
    return {"alerts": [_alert(a) for a in found[:limit]], "more": len(found) > limit}


def rules(ctx: UiContext, query: Query) -> list[dict[str, Any]]:
    """The alert rules (of one ``deployment`` when given)."""
    deployment = query.text("deployment", max_length=255)
    found = ctx.workspace.monitoring.alerts.rules()
    return [
        {**r.to_dict(), "condition": r.describe()}
        for r in found
        if not deployment or r.deployment == deployment
    ]


def acknowledge(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Acknowledge an open alert (again: no change), by the API key's name when auth is on.
    Unknown: 404; resolved already: 409."""
    alert_id = query["alert_id"]
    if not _ALERT_ID.match(alert_id):
        raise AlertNotFoundError("alert", alert_id)
    by = query.key or "dashboard"
    return {"alert": _alert(ctx.workspace.monitoring.alerts.acknowledge(alert_id, by=by))}


def drift(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Drift of the deployment's logged inputs in ``window`` against its reference: the
    columns drifted first (the furthest past their threshold first), the prediction apart."""
    ws = ctx.workspace
    name = query["name"]
    span = _Span(query)
    ws.deployments.get(name)
    try:
        result = ws.monitoring.drift(name, window=span.length, until_ms=span.until_ms)
    except (ValidationError, NotFoundError) as exc:  # no reference, or nothing logged
        return {**span.to_dict(), "available": False, "note": exc.message}
    features = sorted((c for c in result.columns if c.column != PREDICTION), key=_severity)
    prediction = next((c for c in result.columns if c.column == PREDICTION), None)
    return {
        **span.to_dict(),
        "available": True,
        "drifted": result.drifted,
        "share": result.share,
        "drift_share": result.drift_share,
        "reference_rows": result.reference_rows,
        "current_rows": result.current_rows,
        "source": result.source,
        "columns": [c.to_dict() for c in features],
        "prediction": prediction.to_dict() if prediction is not None else None,
    }


def performance(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Metrics per bucket of ``window`` and per model version (``version`` None: all of
    them together), each with its 95% interval where one can be computed."""
    name = query["name"]
    span = _Span(query)
    found = ctx.workspace.monitoring.performance(
        name, window=span.length, bucket=span.bucket, until_ms=span.until_ms
    )
    metrics: list[str] = []
    for w in found:
        metrics += [m for m in w.metrics if m not in metrics]
    return {
        **span.to_dict(),
        "available": bool(found),
        "note": None if found else _NO_LABELS,
        "task": found[0].task if found else None,
        "metrics": metrics,
        "versions": sorted({w.version for w in found if w.version is not None}),
        "windows": [w.to_dict() for w in found],
    }


def health(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Requests, errors, latency percentiles and throughput per bucket of ``window``, and
    over the whole window."""
    name = query["name"]
    span = _Span(query)
    monitoring = ctx.workspace.monitoring
    buckets = monitoring.health(
        name, window=span.length, bucket=span.bucket, until_ms=span.until_ms
    )
    (whole,) = monitoring.health(name, window=span.length, until_ms=span.until_ms)
    return {
        **span.to_dict(),
        "summary": whole.to_dict(),
        "windows": [b.to_dict() for b in buckets],
    }


class _Span:
    """The request's window (``window``: one of :data:`WINDOWS`) ending now, and its
    buckets: charts of the same request line up bucket for bucket."""

    def __init__(self, query: Query) -> None:
        self.window = query.choice("window", list(WINDOWS), DEFAULT_WINDOW)
        self.window_ms, self.bucket_ms = WINDOWS[self.window]
        self.length = dt.timedelta(milliseconds=self.window_ms)
        self.bucket = dt.timedelta(milliseconds=self.bucket_ms)
        self.until_ms = now_ms() + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "since_ms": self.until_ms - self.window_ms,
            "until_ms": self.until_ms,
            "bucket_ms": self.bucket_ms,
        }


def _severity(column: ColumnDrift) -> tuple[bool, float, str]:
    """Drifted columns first, then how far each is past (or short of) its threshold: a
    p-value below it, a distance above it."""
    if column.method.is_test:
        ratio = column.threshold / max(column.score, 1e-300)
    else:
        ratio = column.score / column.threshold if column.threshold else column.score
    return (not column.drifted, -ratio, column.column)


def _alert(alert: Alert) -> dict[str, Any]:
    """An alert with the short part of its evidence (the full details hold every drift
    column's histogram)."""
    evidence = alert.evidence or {}
    details = evidence.get("details") or {}
    return {
        **alert.to_dict(),
        "evidence": {
            "condition": evidence.get("condition"),
            "value": evidence.get("value"),
            "samples": evidence.get("samples"),
            "window_s": evidence.get("window_s"),
            "measured_at": evidence.get("measured_at"),
            "drifted_columns": details.get("drifted_columns"),
        },
        "delivery": (alert.delivery or {}).get("status"),
    }


PAGE = Page(
    name="monitoring",
    title="Monitoring",
    routes=(
        ApiRoute("/monitoring", overview),
        ApiRoute("/monitoring/alerts", alerts),
        ApiRoute("/monitoring/rules", rules),
        ApiRoute("/monitoring/alerts/{alert_id}/acknowledge", acknowledge, "POST"),
        ApiRoute("/monitoring/deployments/{name}/drift", drift),
        ApiRoute("/monitoring/deployments/{name}/performance", performance),
        ApiRoute("/monitoring/deployments/{name}/health", health),
    ),
)
