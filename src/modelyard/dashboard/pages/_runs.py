"""The runs page: search (the CLI's filter language), metric series, comparison, one run.

Only one page of runs is ever queried (the store's paged search), and metric histories
are read only for the runs and keys being charted, so the page costs the same with ten
runs or a hundred thousand.
"""

from __future__ import annotations

from typing import Any

from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.errors import ValidationError
from modelyard.tracking import Metric, Run

__all__ = ["PAGE"]

MAX_CHARTED = 20  # runs in one metrics request or comparison
MAX_KEYS = 20


def experiments(ctx: UiContext, _query: Query) -> list[dict[str, Any]]:
    return [
        {"id": e.id, "name": e.name, "created_at": e.created_at}
        for e in ctx.workspace.tracking.experiments()
    ]


def search(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One page of runs: ``filter``, ``order_by`` (repeatable), ``experiment``
    (repeatable), ``max_results`` and ``page_token``, as ``modelyard runs list`` takes them."""
    page = ctx.workspace.tracking.search_runs(
        experiments=query.texts("experiment") or None,
        filter=query.text("filter"),
        order_by=query.texts("order_by", limit=10) or None,
        max_results=query.integer("max_results", 50, low=1, high=500),
        page_token=query.text("page_token") or None,
    )
    return {"runs": [summary(r) for r in page.runs], "next_page_token": page.next_page_token}


def summary(run: Run) -> dict[str, Any]:
    """A run as a table row: attributes, params, tags, the latest value of each metric, and
    its lineage: what it read (inputs) and the model versions registered from it."""
    return {
        "id": run.id,
        "name": run.name,
        "experiment": run.experiment,
        "status": str(run.status),
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_ms": run.duration_ms,
        "parent_run_id": run.parent_run_id,
        "user": run.user,
        "params": run.params,
        "metrics": {k: _value(m) for k, m in run.metrics.items()},
        "tags": run.tags,
        "inputs": [{"kind": i.kind, "ref": i.ref, "role": i.role} for i in run.inputs],
        "models": _models(run),
    }


def metrics(ctx: UiContext, query: Query) -> dict[str, Any]:
    """The history of each ``key`` for each ``run``, at most ``points`` values per series
    (evenly thinned, the last value always kept)."""
    run_ids = query.texts("run", limit=MAX_CHARTED)
    keys = query.texts("key", limit=MAX_KEYS)
    points = query.integer("points", 1000, low=10, high=100_000)
    tracking = ctx.workspace.tracking
    series = []
    for run_id in run_ids:
        for key in keys:
            history = _thin(tracking.metric_history(run_id, key), points)
            if history:
                series.append(
                    {
                        "run_id": run_id,
                        "key": key,
                        "steps": [m.step for m in history],
                        "values": [_value(m) for m in history],
                    }
                )
    return {"series": series}


def compare(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Params and latest metrics of 2 to 20 runs side by side; ``differs`` marks the rows
    whose values are not all equal."""
    run_ids = query.texts("run", limit=MAX_CHARTED)
    if len(run_ids) < 2:
        raise ValidationError("a comparison needs at least two runs", details={"runs": run_ids})
    tracking = ctx.workspace.tracking
    runs = [tracking.get_run(tracking.resolve_run_id(r)) for r in run_ids]
    rows: list[dict[str, Any]] = [
        _row("status", [str(r.status) for r in runs]),
        _row("experiment", [r.experiment for r in runs]),
        _row("duration_ms", [r.duration_ms for r in runs]),
    ]
    for key in sorted({k for r in runs for k in r.params}):
        rows.append(_row(f"params.{key}", [r.params.get(key) for r in runs]))
    for key in sorted({k for r in runs for k in r.metrics}):
        values = [_value(r.metrics[key]) if key in r.metrics else None for r in runs]
        rows.append(_row(f"metrics.{key}", values))
    for key in sorted({k for r in runs for k in r.tags}):
        rows.append(_row(f"tags.{key}", [r.tags.get(key) for r in runs]))
    return {"runs": [summary(r) for r in runs], "rows": rows}


def detail(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One run (an id or a unique prefix) and the model versions registered from it."""
    tracking = ctx.workspace.tracking
    run = tracking.get_run(tracking.resolve_run_id(query["run_id"]))
    return {"run": run.to_dict(), "models": _models(run)}


def _models(run: Run) -> list[dict[str, Any]]:
    """Model versions registered from the run (the registry records each as an artifact
    ``models/<name>/v<version>`` of its run)."""
    found = []
    for artifact in run.artifacts:
        parts = artifact.path.split("/")
        if len(parts) == 3 and parts[0] == "models" and parts[2][1:].isdigit():
            found.append({"name": parts[1], "version": int(parts[2][1:])})
    return found


def _row(field: str, values: list[Any]) -> dict[str, Any]:
    return {"field": field, "values": values, "differs": len({repr(v) for v in values}) > 1}


def _value(metric: Metric) -> float | None:
    return None if metric.value != metric.value else metric.value


def _thin(history: list[Metric], points: int) -> list[Metric]:
    if len(history) <= points:
        return history
    stride = -(-len(history) // points)
    kept = history[::stride]
    return kept if kept[-1] is history[-1] else [*kept, history[-1]]


PAGE = Page(
    name="runs",
    title="Runs",
    routes=(
        ApiRoute("/experiments", experiments),
        ApiRoute("/runs", search),
        ApiRoute("/runs/metrics", metrics),
        ApiRoute("/runs/compare", compare),
        ApiRoute("/runs/{run_id}", detail),
    ),
)
