"""The models page: registered models, their versions with the metrics of the runs that
trained them, aliases with their history, and one version's signature and lineage."""

from __future__ import annotations

from typing import Any

from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.dashboard.pages._runs import summary
from modelyard.errors import NotFoundError

__all__ = ["PAGE"]


def models(ctx: UiContext, _query: Query) -> list[dict[str, Any]]:
    return [m.to_dict() for m in ctx.workspace.registry.list_models()]


def model(ctx: UiContext, query: Query) -> dict[str, Any]:
    """A model, every version (newest first, each with its training run's summary) and
    the history of its aliases (newest first)."""
    registry = ctx.workspace.registry
    name = query["name"]
    found = registry.get_model(name)
    versions = registry.versions(name)
    run_ids = sorted({v.run_id for v in versions if v.run_id})
    runs = {r.id: summary(r) for r in ctx.workspace.tracking.get_runs(run_ids)}
    return {
        "model": found.to_dict(),
        "versions": [
            {**_brief(v.to_dict()), "run": runs.get(v.run_id) if v.run_id else None}
            for v in versions
        ],
        "history": [e.to_dict() for e in registry.alias_history(name)],
    }


def version(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One version: signature, input example, its training run (params, metrics) and the
    lineage graph from it back to datasets, pipeline runs and source files."""
    ws = ctx.workspace
    number = query.path_integer("version", low=1, high=2**31 - 1)
    found = ws.registry.get_version(query["name"], number)
    run = None
    if found.run_id is not None:
        try:
            run = summary(ws.tracking.get_run(found.run_id))
        except NotFoundError:
            run = None
    return {
        "version": found.to_dict(),
        "run": run,
        "lineage": ws.lineage(found.uri).to_dict(),
    }


def _brief(data: dict[str, Any]) -> dict[str, Any]:
    """A version without its bulky parts (signature, example, flavor details)."""
    return {k: v for k, v in data.items() if k not in ("input_example", "flavor_info")}


PAGE = Page(
    name="models",
    title="Models",
    routes=(
        ApiRoute("/models", models),
        ApiRoute("/models/{name}", model),
        ApiRoute("/models/{name}/versions/{version}", version),
    ),
)
