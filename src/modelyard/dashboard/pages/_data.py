"""The data page: datasets and their versions (schema, statistics, the check report of the
run that made each, diffs between two), pipelines and their runs, and feature views."""

from __future__ import annotations

import contextlib
from typing import Any

from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.data import DatasetVersion, PipelineRun, diff_versions
from modelyard.errors import ModelyardError, NotFoundError

__all__ = ["PAGE"]


def datasets(ctx: UiContext, _query: Query) -> list[dict[str, Any]]:
    return [
        {
            "name": d.name,
            "kind": d.kind,
            "versions": d.versions,
            "latest": _brief(d.latest) if d.latest else None,
        }
        for d in ctx.workspace.datasets.list()
    ]


def dataset(ctx: UiContext, query: Query) -> dict[str, Any]:
    """A dataset's versions, newest first, without their statistics."""
    found = ctx.workspace.datasets.versions(query["name"])
    return {"name": query["name"], "versions": [_brief(v) for v in reversed(found)]}


def version(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One version (``latest``, ``v3`` or an id prefix): schema, statistics, parts, and the
    pipeline run that made it with that run's check report for this dataset."""
    ws = ctx.workspace
    found = ws.datasets.get(f"{query['name']}@{query['selector']}")
    run: PipelineRun | None = None
    if found.run_id is not None:
        with contextlib.suppress(NotFoundError):
            run = ws.pipelines.get_run(found.run_id)
    return {
        "version": found.to_dict(),
        "run": _run_brief(run) if run else None,
        "checks": (run.report.get(found.dataset, []) if run else []),
    }


def diff(ctx: UiContext, query: Query) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b`` (default: the one before the latest
    and the latest): schema, rows, statistics and drift (PSI) per column."""
    store = ctx.workspace.datasets
    name = query["name"]
    b = store.get(f"{name}@{query.text('b', 'latest', max_length=80)}")
    default_a = f"v{max(b.number - 1, 1)}"
    a = store.get(f"{name}@{query.text('a', default_a, max_length=80)}")
    return diff_versions(a, b).to_dict()


def pipelines(ctx: UiContext, _query: Query) -> dict[str, Any]:
    """Every pipeline the workspace defines (or has run), with its latest run. A folder of
    definitions that does not load is reported, not raised: the runs are still shown."""
    runner = ctx.workspace.pipelines
    error = None
    try:
        defined = {name: p.describe() for name, p in runner.definitions().items()}
    except ModelyardError as exc:
        defined, error = {}, exc.message
    recent = runner.runs(limit=500)
    names = sorted({*defined, *(r.pipeline for r in recent)})
    latest: dict[str, PipelineRun] = {}
    for r in recent:
        latest.setdefault(r.pipeline, r)
    return {
        "error": error,
        "pipelines": [
            {
                "name": n,
                "definition": defined.get(n),
                "last_run": _run_brief(latest[n]) if n in latest else None,
            }
            for n in names
        ],
    }


def pipeline(ctx: UiContext, query: Query) -> dict[str, Any]:
    """A pipeline's definition (None when it is no longer defined) and its recent runs."""
    runner = ctx.workspace.pipelines
    name = query["name"]
    definition = None
    error = None
    try:
        definition = runner.get(name).describe()
    except NotFoundError:
        pass
    except ModelyardError as exc:
        error = exc.message
    runs = runner.runs(name, limit=query.integer("limit", 50, low=1, high=1000))
    if definition is None and error is None and not runs:
        raise NotFoundError(f"pipeline {name!r} is neither defined nor has run")
    return {
        "name": name,
        "definition": definition,
        "error": error,
        "runs": [_run_brief(r) for r in runs],
    }


def pipeline_run(ctx: UiContext, query: Query) -> dict[str, Any]:
    return ctx.workspace.pipelines.get_run(query["run_id"]).to_dict()


def features(ctx: UiContext, _query: Query) -> dict[str, Any]:
    """Registered feature views (latest versions), entities and feature services."""
    registry = ctx.workspace.features.registry
    return {
        "views": [
            {
                **v.view.to_dict(),
                "version": v.version,
                "ref": v.ref,
                "digest": v.digest,
                "created_at": v.created_at,
            }
            for v in registry.views()
        ],
        "entities": [registry.entity(n).to_dict() for n in registry.names("entity")],
        "services": [registry.service(n).to_dict() for n in registry.names("feature_service")],
    }


def _brief(v: DatasetVersion) -> dict[str, Any]:
    return {
        "dataset": v.dataset,
        "number": v.number,
        "id": v.id,
        "ref": v.ref,
        "parent_id": v.parent_id,
        "run_id": v.run_id,
        "rows": v.rows,
        "size": v.size,
        "columns": len(v.schema),
        "parts": len(v.parts),
        "created_at": v.created_at,
    }


def _run_brief(r: PipelineRun) -> dict[str, Any]:
    checks = [c for results in r.report.values() for c in results]
    return {
        "id": r.id,
        "pipeline": r.pipeline,
        "status": str(r.status),
        "logical_date": r.logical_date,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "attempts": r.attempts,
        "outputs": r.outputs,
        "checks": len(checks),
        "checks_failed": sum(1 for c in checks if not c.get("passed", True)),
        "error": r.error,
    }


PAGE = Page(
    name="data",
    title="Data",
    routes=(
        ApiRoute("/datasets", datasets),
        ApiRoute("/datasets/{name}", dataset),
        ApiRoute("/datasets/{name}/versions/{selector}", version),
        ApiRoute("/datasets/{name}/diff", diff),
        ApiRoute("/pipelines", pipelines),
        ApiRoute("/pipelines/{name}", pipeline),
        ApiRoute("/pipeline-runs/{run_id}", pipeline_run),
        ApiRoute("/features", features),
    ),
)
