"""``modelyard feedback ...``, ``modelyard monitor ...`` and ``modelyard alerts ...``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time, stderr

if TYPE_CHECKING:
    from modelyard.monitoring import Alert, Metric

feedback_app = typer.Typer(help="Ground-truth labels for logged predictions.", no_args_is_help=True)
monitor_app = typer.Typer(help="Performance, health, drift and reports.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts and the rules that raise them.", no_args_is_help=True)
rules_app = typer.Typer(help="Alert rules.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
app.add_typer(monitor_app, name="monitor")
app.add_typer(alerts_app, name="alerts")
alerts_app.add_typer(rules_app, name="rules")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Deployment = Annotated[str, typer.Argument(help="Deployment name.")]
WindowOpt = Annotated[str, typer.Option("--window", "-w", help="How far back: 1h, 7d, 1d12h.")]
BucketOpt = Annotated[
    str | None, typer.Option("--bucket", "-b", help="Split the window into buckets: 1h, 1d.")
]


def _label(text: str) -> Any:
    """A label as JSON when it parses (``1``, ``true``, ``"a"``), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- feedback ------------------------------------------------------------------------------


@feedback_app.command("add")
def feedback_add(
    ctx: typer.Context,
    prediction_id: Annotated[str, typer.Argument(help="The prediction's id.")],
    label: Annotated[str, typer.Argument(help="The true value (JSON, or text).")],
    as_json: JsonOpt = False,
) -> None:
    """Attach a label to a logged prediction (the same label again changes nothing)."""
    created = open_workspace(ctx).monitoring.add_feedback(prediction_id, _label(label))
    status = "created" if created else "unchanged"
    if as_json:
        emit_json({"prediction_id": prediction_id, "status": status})
    else:
        console.print(f"label {status} for prediction {prediction_id}")


@feedback_app.command("import")
def feedback_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Parquet file with prediction_id and label.")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows, report the rest.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import labels in bulk; all or nothing unless --skip-invalid."""
    result = open_workspace(ctx).monitoring.import_feedback(path, skip_invalid=skip_invalid)
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(
        f"{result.created} labels imported, {result.unchanged} unchanged, "
        f"{len(result.unknown)} unknown ids, {len(result.conflicts)} conflicts, "
        f"{len(result.invalid)} of the wrong type"
    )


# -- monitor -------------------------------------------------------------------------------


def _metric(metric: Metric | None) -> str:
    if metric is None:
        return "-"
    if metric.low is None or metric.high is None:
        return f"{metric.value:.4g}"
    return f"{metric.value:.4g} [{metric.low:.3g}, {metric.high:.3g}]"


@monitor_app.command("performance")
def performance(
    ctx: typer.Context,
    deployment: Deployment,
    window: WindowOpt = "7d",
    bucket: BucketOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Metrics from labels per model version (95% intervals in brackets)."""
    windows = open_workspace(ctx).monitoring.performance(deployment, window=window, bucket=bucket)
    if as_json:
        emit_json([w.to_dict() for w in windows])
        return
    if not windows:
        console.print(f"no labelled predictions of {deployment} in the last {window}")
        return
    names = sorted({name for w in windows for name in w.metrics})
    table = Table("from", "version", "task", "labels", *names, title=f"{deployment}: performance")
    for w in windows:
        version = "all" if w.version is None else f"v{w.version}"
        cells = [_metric(w.metrics.get(name)) for name in names]
        table.add_row(fmt_time(w.start_ms), version, w.task, str(w.samples), *cells)
    console.print(table)


@monitor_app.command("health")
def health(
    ctx: typer.Context,
    deployment: Deployment,
    window: WindowOpt = "1h",
    bucket: BucketOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Requests, errors, latency percentiles and throughput from the prediction log."""
    windows = open_workspace(ctx).monitoring.health(deployment, window=window, bucket=bucket)
    if as_json:
        emit_json([w.to_dict() for w in windows])
        return
    table = Table(
        "from", "requests", "rows", "errors", "error rate", "req/s", "p50 ms", "p95 ms", "p99 ms",
        title=f"{deployment}: health",
    )  # fmt: skip

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for w in windows:
        rate = "-" if w.error_rate is None else f"{w.error_rate:.2%}"
        table.add_row(
            fmt_time(w.start_ms), str(w.requests), str(w.rows), str(w.errors), rate,
            f"{w.throughput_rps:.2f}", ms(w.latency_p50_ms), ms(w.latency_p95_ms),
            ms(w.latency_p99_ms),
        )  # fmt: skip
    console.print(table)


@monitor_app.command("drift")
def drift(
    ctx: typer.Context,
    deployment: Deployment,
    window: WindowOpt = "1d",
    evidently_compat: Annotated[
        bool,
        typer.Option("--evidently-compat", help="Evidently's chi-square, for its verdicts."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drift of the logged inputs (and predictions) against the training reference."""
    from modelyard.monitoring import DriftOptions

    options = DriftOptions(evidently_compat=evidently_compat)
    result = open_workspace(ctx).monitoring.drift(deployment, window=window, options=options)
    if as_json:
        emit_json(result.to_dict())
        return
    table = Table("column", "method", "score", "threshold", "drifted", title=f"{deployment}: drift")
    for c in sorted(result.columns, key=lambda c: (not c.drifted, c.column)):
        mark = "[red]yes[/]" if c.drifted else "no"
        table.add_row(escape(c.column), str(c.method), f"{c.score:.4g}", f"{c.threshold:g}", mark)
    console.print(table)
    verdict = "[red]dataset drift[/]" if result.drifted else "no dataset drift"
    console.print(
        f"{verdict}: {len(result.drifted_columns)} of {len(result.columns)} columns drifted "
        f"({result.current_rows:,} rows against {result.reference_rows:,})"
    )


@monitor_app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    every: Annotated[
        str | None, typer.Option("--every", help="Evaluate again at this interval: 1m, 15m.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate every alert rule once (or every interval until Ctrl-C)."""
    monitoring = open_workspace(ctx).monitoring
    pause = _seconds(every) if every else None
    while True:
        changed = monitoring.evaluate_alerts()
        if as_json:
            emit_json([a.to_dict() for a in changed])
        else:
            for alert in changed:
                console.print(_alert_line(alert))
            console.print(
                f"{len(monitoring.alerts.rules())} rules evaluated, {len(changed)} changed"
            )
        if pause is None:
            return
        try:
            time.sleep(pause)
        except KeyboardInterrupt:
            stderr.print("stopped")
            return


def _seconds(text: str) -> float:
    from modelyard.data._checks_table import parse_duration

    return parse_duration(text).total_seconds()


@monitor_app.command("report")
def report(
    ctx: typer.Context,
    deployment: Deployment,
    window: WindowOpt = "7d",
    bucket: BucketOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the report.")] = None,
) -> None:
    """Write a self-contained HTML report (charts) and the same numbers as JSON."""
    from modelyard.dashboard import write_report

    html, data = write_report(
        open_workspace(ctx), deployment, window=window, bucket=bucket, out_dir=out
    )
    console.print(f"report: {html}\nnumbers: {data}")


# -- alerts --------------------------------------------------------------------------------


def _alert_line(alert: Alert) -> str:
    colour = {"firing": "red", "acknowledged": "yellow", "resolved": "green"}[alert.status.value]
    value = "-" if alert.value is None else f"{alert.value:.4g}"
    return (
        f"[{colour}]{alert.status.value}[/] {alert.id[:12]} {escape(alert.rule)} "
        f"({escape(alert.deployment)}): {escape(str(alert.evidence.get('condition')))}, "
        f"value {value}"
    )


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", help="open, firing, acknowledged or resolved."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    found = open_workspace(ctx).monitoring.alerts.list(status=status, limit=limit)
    if as_json:
        emit_json([a.to_dict() for a in found])
        return
    table = Table("id", "status", "rule", "deployment", "condition", "value", "fired", "delivery")
    for a in found:
        delivery = (a.delivery or {}).get("status", "-")
        value = "-" if a.value is None else f"{a.value:.4g}"
        table.add_row(
            a.id[:12], a.status.value, escape(a.rule), escape(a.deployment),
            escape(str(a.evidence.get("condition"))), value, fmt_time(a.fired_at), delivery,
        )  # fmt: skip
    console.print(table)


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The alert's id (or a unique prefix).")],
    by: Annotated[str | None, typer.Option("--by", help="Who acknowledges.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an open alert; it resolves itself when its condition clears."""
    alert = open_workspace(ctx).monitoring.alerts.acknowledge(alert_id, by=by)
    if as_json:
        emit_json(alert.to_dict())
    else:
        console.print(_alert_line(alert))


@rules_app.command("add")
def rules_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name.")],
    deployment: Annotated[str, typer.Option("--deployment", "-d", help="Deployment watched.")],
    condition: Annotated[
        str, typer.Option("--when", help='The condition: "accuracy < 0.9", "drift_share >= 0.5".')
    ],
    window: WindowOpt = "1d",
    min_samples: Annotated[
        int, typer.Option("--min-samples", help="Fewer samples change nothing.")
    ] = 1,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST alerts here.")] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a rule of that name.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add an alert rule: METRIC OP THRESHOLD over a window."""
    from modelyard.errors import ValidationError
    from modelyard.monitoring import AlertRule

    parts = condition.split()
    if len(parts) != 3:
        raise ValidationError(f'write the condition as "METRIC OP THRESHOLD", not {condition!r}')
    metric, comparison, threshold = parts
    try:
        value = float(threshold)
    except ValueError:
        raise ValidationError(f"threshold {threshold!r} is not a number") from None
    rule = AlertRule(
        name=name,
        deployment=deployment,
        metric=metric,
        comparison=comparison,
        threshold=value,
        window_s=int(_seconds(window)),
        min_samples=min_samples,
        webhook=webhook,
    )
    open_workspace(ctx).monitoring.add_rule(rule, replace=replace)
    if as_json:
        emit_json(rule.to_dict())
    else:
        console.print(f"rule {name}: {rule.describe()} over {window} on {deployment}")


@rules_app.command("list")
def rules_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every alert rule."""
    rules = open_workspace(ctx).monitoring.alerts.rules()
    if as_json:
        emit_json([r.to_dict() for r in rules])
        return
    table = Table("name", "deployment", "condition", "window", "min samples", "webhook")
    for r in rules:
        table.add_row(
            escape(r.name), escape(r.deployment), r.describe(), f"{r.window_s}s",
            str(r.min_samples), escape(r.webhook or "-"),
        )  # fmt: skip
    console.print(table)


@rules_app.command("delete")
def rules_delete(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Delete an alert rule (its alerts stay)."""
    open_workspace(ctx).monitoring.alerts.delete_rule(name)
    console.print(f"rule {name} deleted")
