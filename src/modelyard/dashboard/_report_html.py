"""The monitoring report as one self-contained HTML file, and its JSON beside it.

:func:`render_report` turns the numbers of :func:`modelyard.monitoring.build_report` into a
page that needs no network: the vendored Apache ECharts is inlined (its ES module's export
list becomes a local object), the report's data and the charts' options are inlined as
JSON, and the tables are plain HTML, readable even where scripts are off. The charts:
the drift score of every column against its threshold, reference against current
distribution per column (drifted ones first, in red), each performance metric over time
per model version with its 95% interval as a band, latency percentiles, error rate and
throughput. :func:`write_report` writes ``report.html`` and ``report.json``.

Example:
    >>> html_path, json_path = write_report(ws, "fraud", window="7d")
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.monitoring import build_report

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = ["render_report", "write_report"]

_ECHARTS = Path(__file__).parent / "static" / "vendor" / "echarts.min.js"
_EXPORTS = re.compile(r"export\s*\{([^{}]*)\}\s*;?")
_RED, _BLUE, _GREY, _INK = "#cf222e", "#3b6fd8", "#9aa4b2", "#1f2328"
_PALETTE = ("#3b6fd8", "#e07b39", "#2a9d8f", "#8e6cc2", "#5b8c2a", "#d4a017", "#b5487f")
_AT_MOST_ONE = ("accuracy", "precision", "recall", "f1", "roc_auc")
_P_CAP = 10.0  # -log10 p-values are drawn up to this (p < 1e-10 all look alike)


# -- writing -------------------------------------------------------------------------------


def write_report(
    workspace: Workspace,
    deployment: str,
    *,
    window: str | dt.timedelta = "7d",
    bucket: str | dt.timedelta | None = None,
    out_dir: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write the monitoring report of ``deployment`` over ``window`` as ``report.html``
    and ``report.json`` (the same numbers) into ``out_dir`` (default:
    ``<workspace>/reports/<deployment>-<UTC time>/``); their paths.

    Raises:
        DeploymentNotFoundError: ``deployment`` does not exist.
        ValidationError: a malformed window or bucket.
    """
    data = build_report(workspace.monitoring, deployment, window=window, bucket=bucket)
    if out_dir is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = workspace.path / "reports" / f"{deployment}-{stamp}"
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = _write(folder / "report.json", json.dumps(data, indent=2, allow_nan=False))
    html_path = _write(folder / "report.html", render_report(data))
    return html_path, json_path


def _write(path: Path, text: str) -> Path:
    """Write then rename, so that a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path


# -- the page ------------------------------------------------------------------------------


class _Charts:
    """The charts of one page: each a container in the HTML and its ECharts option."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []

    def add(self, option: dict[str, Any], *, fmt: str = "number", height: int = 260) -> str:
        chart_id = f"chart-{len(self.specs) + 1}"
        self.specs.append({"id": chart_id, "format": fmt, "option": {"animation": False, **option}})
        return f'<div class="chart" id="{chart_id}" style="height:{height}px"></div>'


def render_report(data: dict[str, Any]) -> str:
    """The report (:func:`~modelyard.monitoring.build_report`'s data) as one HTML page
    with no outside references."""
    charts = _Charts()
    body = "\n".join(
        [
            _header(data),
            _cards(data),
            _drift(data, charts),
            _performance(data, charts),
            _health(data, charts),
            _alerts(data),
        ]
    )
    title = f"Monitoring report: {data['deployment']}"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n</main>\n"
        f'<script type="application/json" id="report-data">{_json(data)}</script>\n'
        f'<script type="application/json" id="report-charts">{_json(charts.specs)}</script>\n'
        f'<script type="module">\n{_echarts_module()}\n{_JS}\n</script>\n'
        "</body>\n</html>\n"
    )


@functools.cache
def _echarts_module() -> str:
    """The vendored ECharts ES module with its ``export {a as b, ...}`` list turned into
    ``const echarts = {b: a, ...}``, to run inline in this page's module script."""
    source = _ECHARTS.read_text(encoding="utf-8")
    found = list(_EXPORTS.finditer(source))
    if len(found) != 1 or "</script" in source.lower():
        raise RuntimeError(f"{_ECHARTS} is not the single-export ES module this page inlines")
    pairs = []
    for item in found[0].group(1).split(","):
        local, _, exported = (part.strip() for part in item.partition(" as "))
        pairs.append(f"{exported or local}:{local}")
    start, end = found[0].span()
    return f"{source[:start]}const echarts={{{','.join(pairs)}}};{source[end:]}"


def _json(value: Any) -> str:
    """JSON to sit inside a script element (``<`` escaped, so no ``</script>`` ends it)."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def _header(data: dict[str, Any]) -> str:
    window = data["window"]
    targets = ", ".join(_target(t) for t in data["targets"])
    versions = ", ".join(f"v{v['version']}: {v['predictions']:,}" for v in data["versions"])
    return (
        f"<header><h1>Monitoring report: {_e(data['deployment'])}</h1>"
        f'<p class="sub">model <b>{_e(data["model"])}</b> · targets {targets}'
        f" · predictions per version in the window: {_e(versions or 'none')}</p>"
        f'<p class="sub">window <b>{_e(window["text"])}</b> from {_when(window["since_ms"])} '
        f"to {_when(window['until_ms'])} UTC · buckets of {_e(window['bucket'])} · "
        f"generated {_e(data['generated_at'])}</p></header>"
    )


def _target(target: dict[str, Any]) -> str:
    version = "unresolved" if target["version"] is None else f"v{target['version']}"
    share = "shadow" if target["shadow"] else f"{target['weight']:g}"
    return f"<b>{_e(target['target'])}</b> ({_e(version)}, {_e(share)})"


def _cards(data: dict[str, Any]) -> str:
    s = data["summary"]
    drift = "n/a" if s["dataset_drift"] is None else ("yes" if s["dataset_drift"] else "no")
    columns = (
        f"{s['drifted_columns']} of {s['compared_columns']} columns"
        if s["compared_columns"] is not None
        else "see the note under Drift"
    )
    metric = s["headline_metric"] or "performance"
    cards = [
        ("Predictions", f"{s['predictions']:,}", f"{s['labelled']:,} labelled", False),
        ("Dataset drift", drift, columns, bool(s["dataset_drift"])),
        (metric, _num(s["headline_value"]), "whole window, all versions", False),
        ("Error rate", _pct(s["error_rate"]), "failed requests", bool(s["error_rate"])),
        ("Latency p95", _ms(s["latency_p95_ms"]), "per request", False),
        ("Open alerts", str(s["open_alerts"]), "firing or acknowledged", s["open_alerts"] > 0),
    ]
    return '<section class="cards">' + "".join(_card(*c) for c in cards) + "</section>"


def _card(label: str, value: str, sub: str, bad: bool) -> str:
    return (
        f'<div class="card{" bad" if bad else ""}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="sub">{_e(sub)}</div></div>'
    )


# -- drift ---------------------------------------------------------------------------------


def _drift(data: dict[str, Any], charts: _Charts) -> str:
    drift = data["drift"]
    head = "<h2>Drift</h2>"
    if not drift["available"]:
        return f'<section>{head}<p class="note">{_e(drift["note"])}</p></section>'
    columns = drift["columns"]
    compared = [*columns, *([drift["prediction"]] if drift["prediction"] else [])]
    verdict = "drifted" if drift["drifted"] else "no dataset drift"
    intro = (
        f'<p class="sub"><b class="{"bad" if drift["drifted"] else "good"}">{verdict}</b>: '
        f"{len(drift['drifted_columns'])} of {len(compared)} compared columns drifted "
        f"(share {_pct(drift['share'])}; the dataset drifts at {_pct(drift['drift_share'])}) · "
        f"reference {_e(drift['reference'] or 'unnamed')}, {drift['reference_rows']:,} rows · "
        f"current {drift['current_rows']:,} rows"
        f"{' · Evidently-compatible tests' if drift['evidently_compat'] else ''}</p>"
    )
    overview = "".join(
        _panel(_overview_title(kind), charts.add(_overview(group, kind), height=_bars(group)))
        for kind, group in _by_kind(compared)
    )
    predicted = _distribution(drift["prediction"], charts) if drift["prediction"] else ""
    parts = [head, intro, f'<div class="grid">{overview}{predicted}</div>']
    if columns:
        parts.append("<h3>Feature distributions: reference against current</h3>")
        parts.append(
            f'<div class="grid">{"".join(_distribution(c, charts) for c in columns)}</div>'
        )
    parts.append(_table(_DRIFT_COLUMNS, compared, "drift"))
    return f"<section>{''.join(parts)}</section>"


def _by_kind(columns: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    kinds = ("distance", "p_value")
    groups = [(k, [c for c in columns if c["score_kind"] == k]) for k in kinds]
    return [(k, g) for k, g in groups if g]


def _overview_title(kind: str) -> str:
    if kind == "p_value":
        return "Drift tests: -log10 p-value per column (bar past the mark: drifted)"
    return "Drift distances per column (bar past the mark: drifted)"


def _bars(columns: Sequence[object]) -> int:
    return 70 + 28 * len(columns)


def _overview(columns: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Horizontal bars of every column's score, red where drifted, and a mark at each
    column's threshold; p-values are drawn as -log10 p so that longer means more drift."""

    def scale(value: float | None) -> float | None:
        if value is None or kind != "p_value":
            return value
        return min(max(0.0, -math.log10(max(value, 1e-300))), _P_CAP)

    names = [c["column"] for c in columns]
    bars = [
        {
            "value": scale(c["score"]),
            "itemStyle": {"color": _RED if c["drifted"] else _BLUE},
            "tip": _verdict(c),
        }
        for c in columns
    ]
    thresholds = [c["threshold"] for c in columns]
    marks = [
        {"value": [scale(t), name], "tip": f"threshold {_num(t)}"}
        for t, name in zip(thresholds, names, strict=True)
    ]
    same = len(set(thresholds)) == 1 and len(columns) > 1
    axis = f"-log10 p-value (capped at {_P_CAP:g})" if kind == "p_value" else "distance"
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"data": ["score", "threshold"], "top": 0, "right": 0},
        "grid": {"left": 12, "right": 24, "top": 28, "bottom": 34, "containLabel": True},
        "xAxis": {"type": "value", "name": axis, "nameLocation": "middle", "nameGap": 24},
        "yAxis": {"type": "category", "data": names, "inverse": True},
        "series": [
            {"name": "score", "type": "bar", "data": bars, "barMaxWidth": 18},
            {
                "name": "threshold",
                "type": "line",
                "data": marks,
                "symbol": "rect",
                "symbolSize": [3, 22],
                "color": _INK,
                "lineStyle": {"type": "dashed", "width": 1, "opacity": 0.6 if same else 0},
                "z": 5,
            },
        ],
    }


def _distribution(column: dict[str, Any], charts: _Charts) -> str:
    """Reference and current shares per bucket of one column, the verdict in the title."""
    drifted = column["drifted"]
    axis, reference, current = _histogram(column["histogram"])
    option = {
        "title": {
            "text": column["column"],
            "subtext": _verdict(column),
            "left": 0,
            "textStyle": {"fontSize": 14, "color": _RED if drifted else _INK},
            "subtextStyle": {"color": _RED if drifted else "#656d76"},
        },
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["reference", "current"], "top": 4, "right": 0},
        "grid": {"left": 8, "right": 12, "top": 62, "bottom": 8, "containLabel": True},
        "xAxis": axis,
        "yAxis": {"type": "value"},
        "series": [
            {"name": "reference", "type": "bar", "data": reference, "color": _GREY},
            {
                "name": "current",
                "type": "bar",
                "data": current,
                "color": _RED if drifted else _BLUE,
                "barGap": "0%",
                "barCategoryGap": "12%",
            },
        ],
    }
    chart = charts.add(option, fmt="percent", height=290)
    return f'<div class="panel{" drifted" if drifted else ""}">{chart}</div>'


def _histogram(hist: dict[str, Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """The x axis and both sides' bars: categories on a category axis; numbers on a value
    axis, each bar at its bucket's middle with the bucket's range in the tooltip."""
    if hist["edges"] is None:
        labels = hist["labels"] or []
        rotate = 30 if len(labels) > 8 else 0
        axis = {"type": "category", "data": labels, "axisLabel": {"rotate": rotate}}
        return axis, hist["reference"], hist["current"]
    edges = hist["edges"]
    ranges = _ranges(edges)
    middles = [(a + b) / 2 for a, b in itertools.pairwise(edges)]

    def bars(shares: list[float]) -> list[dict[str, Any]]:
        return [
            {"value": [m, s], "tip": f"{r}: {_pct(s)}"}
            for m, s, r in zip(middles, shares, ranges, strict=True)
        ]

    axis = {"type": "value", "min": edges[0], "max": edges[-1], "format": "number"}
    axis["axisLabel"] = {"showMinLabel": False, "showMaxLabel": False}
    return axis, bars(hist["reference"]), bars(hist["current"])


def _verdict(column: dict[str, Any]) -> str:
    word = "drifted" if column["drifted"] else "not drifted"
    score = "p-value" if column["score_kind"] == "p_value" else "distance"
    return (
        f"{word} · {column['method']} {score} {_num(column['score'])} "
        f"(threshold {_num(column['threshold'])})"
    )


def _ranges(edges: Sequence[float]) -> list[str]:
    return [f"{_short(a)}\u2013{_short(b)}" for a, b in itertools.pairwise(edges)]


# -- performance and health ----------------------------------------------------------------


def _performance(data: dict[str, Any], charts: _Charts) -> str:
    perf = data["performance"]
    head = "<h2>Performance from labels</h2>"
    if perf.get("note"):
        return f'<section>{head}<p class="note">{_e(perf["note"])}</p></section>'
    starts = _starts(data["window"])
    panels = [
        _panel(
            f"{name} over time (95% interval as a band)",
            charts.add(_metric_option(name, perf["windows"], starts, data["window"]["bucket_ms"])),
        )
        for name in perf["metrics"]
    ]
    intro = (
        f'<p class="sub">{perf["task"]} · {perf["samples"]:,} labelled predictions in the '
        "window · each version apart and all versions together</p>"
    )
    whole = _table(_perf_columns(perf["metrics"], "versions"), perf["overall"], "performance")
    buckets = _table(_perf_columns(perf["metrics"], "bucket"), perf["windows"], "performance")
    return (
        f'<section>{head}{intro}<div class="grid">{"".join(panels)}</div>'
        f"<h3>Whole window</h3>{whole}"
        f"<details><summary>Numbers per bucket</summary>{buckets}</details></section>"
    )


def _starts(window: dict[str, Any]) -> list[int]:
    return list(range(window["since_ms"], window["until_ms"], window["bucket_ms"]))


def _metric_option(
    name: str, windows: list[dict[str, Any]], starts: list[int], bucket_ms: int
) -> dict[str, Any]:
    """One metric over the buckets: a line per version (and a dashed one for all of
    them), each with its interval drawn as a stacked band of the same name."""
    versions = sorted({w["version"] for w in windows if w["version"] is not None})
    series: list[dict[str, Any]] = []
    for i, version in enumerate([*versions, None]):
        label = "all versions" if version is None else f"v{version}"
        color = _INK if version is None else _PALETTE[i % len(_PALETTE)]
        found = {w["start_ms"]: w for w in windows if w["version"] == version}
        points = [_point(found.get(s), name) for s in starts]
        series += _band(label, color, points)
        series.append(
            {
                "name": label,
                "type": "line",
                "data": points,
                "color": color,
                "symbolSize": 6,
                "connectNulls": True,
                "lineStyle": {"width": 2, "type": "dashed" if version is None else "solid"},
                "z": 3,
            }
        )
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [s["name"] for s in series if s["type"] == "line"], "top": 0},
        "grid": {"left": 8, "right": 16, "top": 34, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": _labels(starts, bucket_ms), "boundaryGap": False},
        "yAxis": {"type": "value", "scale": True, "max": 1 if name in _AT_MOST_ONE else None},
        "series": series,
    }


def _point(window: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    metric = window["metrics"].get(name) if window else None
    if window is None or metric is None or metric["value"] is None:
        return None
    interval = ""
    if metric["low"] is not None and metric["high"] is not None:
        interval = f" [{_num(metric['low'])}, {_num(metric['high'])}]"
    return {
        "value": metric["value"],
        "low": metric["low"],
        "high": metric["high"],
        "tip": f"{_num(metric['value'])}{interval} · {window['samples']:,} labels",
    }


def _band(label: str, color: str, points: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The interval as two stacked lines: an invisible one at the low end and a filled
    one of the interval's height above it, bridged over buckets without the version as
    its line is."""
    ends = [(p["low"], p["high"]) if p is not None else (None, None) for p in points]
    lows = _bridge([low for low, _ in ends])
    highs = _bridge([high for _, high in ends])
    heights = [
        None if low is None or high is None else high - low
        for low, high in zip(lows, highs, strict=True)
    ]
    common: dict[str, Any] = {"name": label, "type": "line", "stack": f"ci-{label}"}
    common |= {"stackStrategy": "all", "symbol": "none", "color": color, "silent": True}
    common |= {"lineStyle": {"opacity": 0}}
    return [
        {**common, "id": f"band-low-{label}", "data": lows},
        {**common, "id": f"band-{label}", "data": heights, "areaStyle": {"opacity": 0.13}},
    ]


def _bridge(values: list[float | None]) -> list[float | None]:
    """Gaps between known values filled in linearly; the ends stay empty."""
    known = [i for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return values
    given = np.asarray([v for v in values if v is not None], dtype=np.float64)
    inner = np.interp(np.arange(known[0], known[-1] + 1), known, given)
    return [*values[: known[0]], *inner.tolist(), *values[known[-1] + 1 :]]


def _health(data: dict[str, Any], charts: _Charts) -> str:
    health = data["health"]
    windows = health["windows"]
    if health["summary"]["requests"] + health["summary"]["errors"] == 0:
        note = "no requests were answered or failed in the window"
        return f'<section><h2>Service health</h2><p class="note">{note}</p></section>'
    bucket = data["window"]["bucket"]
    labels = _labels([w["start_ms"] for w in windows], data["window"]["bucket_ms"])
    latency = _lines(
        labels,
        [(f"p{q}", [w[f"latency_p{q}_ms"] for w in windows]) for q in (50, 95, 99)],
    )
    errors = _columns_option(
        labels,
        "error rate",
        [w["error_rate"] for w in windows],
        [f"{w['errors']:,} failed of {w['requests'] + w['errors']:,} requests" for w in windows],
        _RED,
    )
    throughput = _columns_option(
        labels,
        "requests",
        [w["requests"] for w in windows],
        [f"{w['requests']:,} requests · {_num(w['throughput_rps'])} req/s" for w in windows],
        _BLUE,
    )
    panels = [
        _panel("Latency percentiles per request (ms)", charts.add(latency, fmt="ms")),
        _panel("Error rate", charts.add(errors, fmt="percent")),
        _panel(f"Throughput: requests per {bucket} bucket", charts.add(throughput)),
    ]
    rows = [{**health["summary"], "whole": True}, *windows]
    return (
        f'<section><h2>Service health</h2><div class="grid">{"".join(panels)}</div>'
        f"{_table(_HEALTH_COLUMNS, rows, 'health')}</section>"
    )


def _lines(labels: list[str], series: list[tuple[str, list[Any]]]) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [name for name, _ in series], "top": 0},
        "grid": {"left": 8, "right": 16, "top": 34, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": labels, "boundaryGap": False},
        "yAxis": {"type": "value"},
        "color": list(_PALETTE),
        "series": [
            {"name": name, "type": "line", "data": values, "symbolSize": 6, "connectNulls": True}
            for name, values in series
        ],
    }


def _columns_option(
    labels: list[str], name: str, values: list[Any], tips: list[str], color: str
) -> dict[str, Any]:
    data = [{"value": v, "tip": t} for v, t in zip(values, tips, strict=True)]
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 16, "top": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value", "min": 0},
        "series": [{"name": name, "type": "bar", "data": data, "color": color, "barMaxWidth": 40}],
    }


def _labels(starts: Iterable[int], bucket_ms: int) -> list[str]:
    shape = "%b %d" if bucket_ms % 86_400_000 == 0 else "%b %d %H:%M"
    return [dt.datetime.fromtimestamp(s / 1000, dt.UTC).strftime(shape) for s in starts]


# -- alerts and tables ---------------------------------------------------------------------


def _alerts(data: dict[str, Any]) -> str:
    alerts = data["alerts"]
    parts = ["<section><h2>Alerts</h2>"]
    for title, rows in (("Open", alerts["open"]), ("Resolved in the window", alerts["recent"])):
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(_ALERT_COLUMNS, rows, "alerts") if rows else _empty("none"))
    parts.append("<h3>Rules</h3>")
    rules = alerts["rules"]
    parts.append(_table(_RULE_COLUMNS, rules, "rules") if rules else _empty("no rules"))
    return "".join(parts) + "</section>"


_Column = tuple[str, Callable[[dict[str, Any]], str], bool]  # heading, cell, right-aligned

_DRIFT_COLUMNS: list[_Column] = [
    ("column", lambda c: c["column"], False),
    ("kind", lambda c: c["kind"], False),
    ("method", lambda c: c["method"], False),
    ("score", lambda c: _num(c["score"]), True),
    ("threshold", lambda c: _num(c["threshold"]), True),
    ("verdict", lambda c: "drifted" if c["drifted"] else "—", False),
    ("p-value", lambda c: _num(c["p_value"]), True),
    ("statistic", lambda c: _num(c["statistic"]), True),
    ("reference rows", lambda c: f"{c['reference_count']:,}", True),
    ("current rows", lambda c: f"{c['current_count']:,}", True),
]
_HEALTH_COLUMNS: list[_Column] = [
    ("bucket", lambda w: "whole window" if w.get("whole") else _when(w["start_ms"]), False),
    ("requests", lambda w: f"{w['requests']:,}", True),
    ("rows", lambda w: f"{w['rows']:,}", True),
    ("errors", lambda w: f"{w['errors']:,}", True),
    ("error rate", lambda w: _pct(w["error_rate"]), True),
    ("requests/s", lambda w: _num(w["throughput_rps"]), True),
    ("p50", lambda w: _ms(w["latency_p50_ms"]), True),
    ("p95", lambda w: _ms(w["latency_p95_ms"]), True),
    ("p99", lambda w: _ms(w["latency_p99_ms"]), True),
]
_ALERT_COLUMNS: list[_Column] = [
    ("rule", lambda a: a["rule"], False),
    ("condition", lambda a: a["condition"] or "", False),
    ("status", lambda a: a["status"], False),
    ("value", lambda a: _num(a["value"]), True),
    ("samples", lambda a: "—" if a["samples"] is None else f"{a['samples']:,}", True),
    ("fired", lambda a: _when(a["fired_at"]), False),
    ("acknowledged", lambda a: _when(a["acknowledged_at"]), False),
    ("resolved", lambda a: _when(a["resolved_at"]), False),
    ("webhook", lambda a: a["delivery"] or "—", False),
]
_RULE_COLUMNS: list[_Column] = [
    ("rule", lambda r: r["name"], False),
    ("condition", lambda r: r["condition"], False),
    ("window", lambda r: f"{r['window_s']:,} s", True),
    ("min. samples", lambda r: f"{r['min_samples']:,}", True),
    ("enabled", lambda r: "yes" if r["enabled"] else "no", False),
]


def _perf_columns(metrics: list[str], first: str) -> list[_Column]:
    lead: list[_Column] = [("version", lambda w: _version(w["version"]), False)]
    if first == "bucket":
        lead.insert(0, ("bucket", lambda w: _when(w["start_ms"]), False))
    lead.append(("labels", lambda w: f"{w['samples']:,}", True))
    return lead + [(m, functools.partial(_metric_cell, m), True) for m in metrics]


def _metric_cell(name: str, window: dict[str, Any]) -> str:
    metric = window["metrics"].get(name)
    if metric is None:
        return "—"
    if metric["low"] is None or metric["high"] is None:
        return _num(metric["value"])
    return f"{_num(metric['value'])} [{_num(metric['low'])}, {_num(metric['high'])}]"


def _version(version: int | None) -> str:
    return "all versions" if version is None else f"v{version}"


def _table(columns: list[_Column], rows: list[dict[str, Any]], name: str) -> str:
    head = "".join(f'<th class="{"num" if n else ""}">{_e(h)}</th>' for h, _, n in columns)
    body = "".join(
        f'<tr class="{_row_class(row)}">'
        + "".join(
            f'<td class="{"num" if n else ""}">{_e(cell(row))}</td>' for _, cell, n in columns
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="table-wrap"><table data-table="{name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _row_class(row: dict[str, Any]) -> str:
    if row.get("drifted") or row.get("status") == "firing":
        return "bad"
    return "whole" if row.get("whole") or row.get("version", 0) is None else ""


def _panel(title: str, chart: str) -> str:
    return f'<div class="panel"><h4>{_e(title)}</h4>{chart}</div>'


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


# -- formatting ----------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _short(value: float) -> str:
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def _when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


_CSS = """
:root { --line: #e1e4e8; --muted: #656d76; --bad: #cf222e; --good: #1a7f37; --ink: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0; }
main { max-width: 1500px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 6px; padding-top: 12px; border-top: 1px solid var(--line); }
h3 { font-size: 13px; margin: 18px 0 8px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
h4 { font-size: 13px; margin: 0 0 6px; font-weight: 600; }
.sub { color: var(--muted); margin: 2px 0; }
.bad { color: var(--bad); } .good { color: var(--good); }
.note { background: #fff8c5; border: 1px solid #eed888; border-radius: 6px; padding: 10px 12px; }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px;
  margin: 16px 0 4px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; }
.card .value { font-size: 22px; font-weight: 600; }
.card .sub { font-size: 12px; }
.card.bad { border-color: #ffb3ad; background: #fff5f4; }
.card.bad .value { color: var(--bad); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px;
  align-items: start; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px;
  min-width: 0; }
.panel.drifted { border: 1px solid #ffb3ad; border-left: 4px solid var(--bad);
  background: #fffafa; }
.chart { width: 100%; }
.table-wrap { overflow-x: auto; margin-top: 10px; background: #fff; border: 1px solid var(--line);
  border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: 12px; background: #fafbfc;
  white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.bad td { color: var(--bad); }
tr.whole td { font-weight: 600; }
details { margin-top: 10px; } summary { cursor: pointer; color: var(--muted); }
"""

_JS = r"""
const charts = JSON.parse(document.getElementById("report-charts").textContent);
const esc = (t) => String(t).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v) => {
  if (v == null || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return v.toLocaleString("en-US", { maximumSignificantDigits: 4 });
};
const formats = {
  number: { value: num, axis: num },
  percent: { value: (v) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`),
             axis: (v) => `${Math.round(v * 1000) / 10}%` },
  ms: { value: (v) => (v == null ? "—" : `${v.toFixed(1)} ms`), axis: (v) => `${v} ms` },
};
function value(p) {
  const v = Array.isArray(p.value) ? p.value[0] : p.value;
  return typeof v === "number" ? v : null;
}
function tip(params, fmt) {
  const list = (Array.isArray(params) ? params : [params]).filter(
    (p) => !String(p.seriesId).startsWith("band") && p.data != null && value(p) != null);
  if (!list.length) return "";
  const head = esc(list[0].axisValueLabel ?? list[0].name ?? "");
  const rows = list.map((p) => `${p.marker}${esc(p.seriesName)}: ` +
    esc(p.data && p.data.tip ? p.data.tip : fmt.value(value(p))));
  return [head, ...rows].join("<br>");
}
for (const spec of charts) {
  const element = document.getElementById(spec.id);
  const fmt = formats[spec.format] ?? formats.number;
  const option = spec.option;
  for (const axis of [option.xAxis, option.yAxis]) {
    if (!axis || axis.type !== "value") continue;
    const own = formats[axis.format] ?? fmt;
    delete axis.format;
    axis.axisLabel = { formatter: own.axis, ...axis.axisLabel };
  }
  option.tooltip = { ...option.tooltip, formatter: (params) => tip(params, fmt) };
  const chart = echarts.init(element, null, { renderer: "canvas" });
  chart.setOption(option);
  window.addEventListener("resize", () => chart.resize());
}
document.documentElement.dataset.charts = String(charts.length);
"""
