"""The numbers of a monitoring report: one deployment over one window, as plain data.

:func:`build_report` gathers what ``ws.monitoring`` gives for a deployment (drift of its
inputs and predictions, performance from labels, service health, alerts) over one window
ending at one instant, so that every section describes the same span of time. The result
is JSON-able (no NaN; times as epoch milliseconds and ISO text) and is both what
``modelyard monitor report`` writes as ``report.json`` and what its HTML report draws.

Example:
    >>> data = build_report(ws.monitoring, "fraud", window="7d")  # buckets of 1 day
    >>> data["drift"]["drifted_columns"], data["health"]["summary"]["latency_p95_ms"]
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import duckdb

from modelyard._ids import now_ms
from modelyard.errors import ModelyardError, ValidationError
from modelyard.monitoring._alerts import PERFORMANCE_METRICS, Alert, AlertStatus
from modelyard.monitoring._monitor import PREDICTION, _duration_ms
from modelyard.monitoring._results import ColumnDrift

if TYPE_CHECKING:
    from modelyard.deployments import DeploymentSpec
    from modelyard.monitoring._monitor import Monitoring

__all__ = ["MAX_BUCKETS", "build_report", "default_bucket"]

SCHEMA = 1
MAX_BUCKETS = 500
"""More buckets than this make charts nobody can read; a smaller bucket is refused."""
_NICE_BUCKETS: tuple[str, ...] = (
    *(f"{n}m" for n in (1, 5, 10, 15, 30)),
    *(f"{n}h" for n in (1, 2, 3, 6, 12)),
    *(f"{n}d" for n in (1, 2, 7, 14, 30)),
)
_ALERT_LIMIT = 1000


def default_bucket(window: str | dt.timedelta) -> str:
    """The bucket for charts over ``window``: the round size (1m, 5m, ... 1h, 3h, ... 1d,
    7d) nearest to a seventh of the window on a log scale, so that a window gets about
    seven points: ``7d`` -> ``1d``, ``1d`` -> ``3h``, ``6h`` -> ``1h``, ``1h`` -> ``10m``."""
    target = _duration_ms(window) / 7
    return min(_NICE_BUCKETS, key=lambda b: abs(math.log(_duration_ms(b) / target)))


def build_report(
    monitoring: Monitoring,
    deployment: str,
    *,
    window: str | dt.timedelta = "7d",
    bucket: str | dt.timedelta | None = None,
    until_ms: int | None = None,
) -> dict[str, Any]:
    """Everything a report shows about ``deployment`` over ``window`` ending at
    ``until_ms`` (now by default), charts bucketed by ``bucket`` (see
    :func:`default_bucket`).

    Sections: ``deployment``, ``model``, ``targets`` (traffic and shadow targets with the
    versions they resolve to now), ``versions`` (predictions answered per version in the
    window), ``window``, ``summary``, ``drift`` (per column and for the dataset, the
    prediction apart; ``available`` False with a ``note`` when there is no reference or no
    logged input), ``performance`` (per bucket and for the whole window, per version and
    overall, with 95% intervals; a ``note`` when nothing is labelled), ``health`` (per
    bucket and for the whole window) and ``alerts`` (rules, open and recent alerts).

    Raises:
        DeploymentNotFoundError: ``deployment`` does not exist.
        ValidationError: a malformed window or bucket, or more than :data:`MAX_BUCKETS`.
    """
    spec = monitoring.workspace.deployments.get(deployment).spec
    window_ms = _duration_ms(window)
    bucket = bucket if bucket is not None else default_bucket(window)
    bucket_ms = _duration_ms(bucket)
    if math.ceil(window_ms / bucket_ms) > MAX_BUCKETS:
        raise ValidationError(
            f"a bucket of {bucket} splits the window of {window} into more than "
            f"{MAX_BUCKETS} points; give a larger bucket",
            details={"window": str(window), "bucket": str(bucket)},
        )
    until = until_ms if until_ms is not None else now_ms() + 1
    since = until - window_ms
    drift = _drift(monitoring, deployment, window, until)
    performance = _performance(monitoring, deployment, window, bucket, until)
    health = _health(monitoring, deployment, window, bucket, until)
    alerts = _alerts(monitoring, deployment, since)
    versions = _versions(monitoring, deployment, since, until)
    return {
        "schema": SCHEMA,
        "generated_at": _iso(now_ms()),
        "deployment": deployment,
        "model": spec.model,
        "targets": _targets(monitoring, spec),
        "versions": versions,
        "window": {
            "text": _text(window),
            "bucket": _text(bucket),
            "window_ms": window_ms,
            "bucket_ms": bucket_ms,
            "since_ms": since,
            "until_ms": until,
            "since": _iso(since),
            "until": _iso(until),
        },
        "summary": _summary(versions, drift, performance, health, alerts),
        "drift": drift,
        "performance": performance,
        "health": health,
        "alerts": alerts,
    }


def _targets(monitoring: Monitoring, spec: DeploymentSpec) -> list[dict[str, Any]]:
    """The targets with the version each resolves to now (None: it no longer resolves)."""
    routes: list[tuple[str, float | None, bool]] = [
        (r.target, r.weight, False) for r in spec.traffic
    ]
    routes += [(t, None, True) for t in spec.shadow]
    found = []
    for target, weight, shadow in routes:
        uri = spec.target_uri(target)
        try:
            version: int | None = monitoring.workspace.registry.resolve(uri).version
        except ModelyardError:
            version = None
        found.append(
            {"target": target, "weight": weight, "shadow": shadow, "uri": uri, "version": version}
        )
    return found


def _versions(
    monitoring: Monitoring, deployment: str, since: int, until: int
) -> list[dict[str, Any]]:
    """Predictions answered per model version in the window (shadow answers excluded)."""
    con = duckdb.connect()
    try:
        rel = monitoring.log.relation(con, deployment, since_ms=since, until_ms=until)
        if rel is None:
            return []
        rows = rel.aggregate("version, count(*) AS n", "version").order("version").fetchall()
    finally:
        con.close()
    return [{"version": int(v), "predictions": int(n)} for v, n in rows]


def _drift(
    monitoring: Monitoring, deployment: str, window: str | dt.timedelta, until: int
) -> dict[str, Any]:
    try:
        result = monitoring.drift(deployment, window=window, until_ms=until)
    except ValidationError as exc:  # no reference, or nothing logged in the window
        return {"available": False, "note": exc.message}
    features = sorted((c for c in result.columns if c.column != PREDICTION), key=_drift_order)
    predicted = [c for c in result.columns if c.column == PREDICTION]
    return {
        "available": True,
        "reference": result.source,
        "drifted": result.drifted,
        "share": result.share,
        "drift_share": result.drift_share,
        "drifted_columns": list(result.drifted_columns),
        "evidently_compat": result.evidently_compat,
        "reference_rows": result.reference_rows,
        "current_rows": result.current_rows,
        "columns": [_column(c) for c in features],
        "prediction": _column(predicted[0]) if predicted else None,
    }


def _column(result: ColumnDrift) -> dict[str, Any]:
    return {**result.to_dict(), "score_kind": "p_value" if result.method.is_test else "distance"}


def _drift_order(result: ColumnDrift) -> tuple[bool, float, str]:
    """Drifted columns first, the farthest past their threshold first, then by name."""
    if result.method.is_test:
        excess = result.threshold / max(result.score, 1e-300)
    else:
        excess = result.score / result.threshold if result.threshold > 0 else math.inf
    return (not result.drifted, -excess if math.isfinite(excess) else -math.inf, result.column)


def _performance(
    monitoring: Monitoring,
    deployment: str,
    window: str | dt.timedelta,
    bucket: str | dt.timedelta,
    until: int,
) -> dict[str, Any]:
    windows = monitoring.performance(deployment, window=window, bucket=bucket, until_ms=until)
    whole = monitoring.performance(deployment, window=window, until_ms=until)
    overall = [w for w in whole if w.version is None]
    names = {name for w in windows for name in w.metrics}
    found: dict[str, Any] = {
        "task": overall[0].task if overall else None,
        "samples": overall[0].samples if overall else 0,
        "metrics": [m for m in PERFORMANCE_METRICS if m in names],
        "windows": [w.to_dict() for w in windows],
        "overall": [w.to_dict() for w in whole],
    }
    if not windows:
        found["note"] = (
            "no labelled predictions in the window: send labels with POST /v1/feedback, "
            "ws.monitoring.add_feedback or import_feedback"
        )
    return found


def _health(
    monitoring: Monitoring,
    deployment: str,
    window: str | dt.timedelta,
    bucket: str | dt.timedelta,
    until: int,
) -> dict[str, Any]:
    windows = monitoring.health(deployment, window=window, bucket=bucket, until_ms=until)
    (whole,) = monitoring.health(deployment, window=window, until_ms=until)
    return {"summary": whole.to_dict(), "windows": [w.to_dict() for w in windows]}


def _alerts(monitoring: Monitoring, deployment: str, since: int) -> dict[str, Any]:
    """The deployment's rules, its open alerts, and those that resolved in the window."""
    rules = [r for r in monitoring.alerts.rules() if r.deployment == deployment]
    mine = [a for a in monitoring.alerts.list(limit=_ALERT_LIMIT) if a.deployment == deployment]
    resolved = AlertStatus.RESOLVED
    return {
        "rules": [{**r.to_dict(), "condition": r.describe()} for r in rules],
        "open": [_alert(a) for a in mine if a.status is not resolved],
        "recent": [
            _alert(a)
            for a in mine
            if a.status is resolved and max(a.resolved_at or 0, a.fired_at) >= since
        ],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    """An alert without its full evidence (which may hold every column's histograms)."""
    evidence = alert.evidence or {}
    return {
        "id": alert.id,
        "rule": alert.rule,
        "status": alert.status.value,
        "condition": evidence.get("condition"),
        "value": _finite(alert.value),
        "samples": evidence.get("samples"),
        "fired_at": alert.fired_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": alert.resolved_at,
        "delivery": (alert.delivery or {}).get("status"),
    }


def _summary(
    versions: list[dict[str, Any]],
    drift: dict[str, Any],
    performance: dict[str, Any],
    health: dict[str, Any],
    alerts: dict[str, Any],
) -> dict[str, Any]:
    """The headline numbers, each taken from its section."""
    overall = [w for w in performance["overall"] if w["version"] is None]
    metrics = overall[0]["metrics"] if overall else {}
    headline = next((m for m in performance["metrics"] if m in metrics), None)
    whole = health["summary"]
    predicted = drift.get("prediction")
    compared = [*drift.get("columns", []), *([predicted] if predicted else [])]
    return {
        "predictions": sum(v["predictions"] for v in versions),
        "labelled": performance["samples"],
        "dataset_drift": drift.get("drifted"),
        "drifted_columns": sum(c["drifted"] for c in compared) if drift["available"] else None,
        "compared_columns": len(compared) if drift["available"] else None,
        "prediction_drift": predicted["drifted"] if predicted else None,
        "headline_metric": headline,
        "headline_value": metrics[headline]["value"] if headline else None,
        "error_rate": whole["error_rate"],
        "latency_p95_ms": whole["latency_p95_ms"],
        "open_alerts": len(alerts["open"]),
    }


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _text(value: str | dt.timedelta) -> str:
    if isinstance(value, str):
        return value.strip()
    seconds = value.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
