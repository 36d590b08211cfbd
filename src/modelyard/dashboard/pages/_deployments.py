"""The deployments page: traffic split, the version each target resolves to, what servers
report, and, when the dashboard runs inside ``modelyard serve``, that server's live request
rate, latency percentiles, error rate, cache hit ratio and batch sizes."""

from __future__ import annotations

from typing import Any

from modelyard.dashboard._page import ApiRoute, Page, Query, UiContext
from modelyard.deployments import Deployment
from modelyard.errors import NotFoundError, ValidationError

__all__ = ["PAGE"]


def deployments(ctx: UiContext, _query: Query) -> dict[str, Any]:
    store = ctx.workspace.deployments
    found = store.list()
    return {
        "live": ctx.live is not None,
        "deployments": [
            {**_brief(d), "statuses": [s.to_dict() for s in store.statuses(d.name)]} for d in found
        ],
    }


def deployment(ctx: UiContext, query: Query) -> dict[str, Any]:
    """One deployment: spec, each target's resolved version and every server's report
    (``stale_after_s`` widens the report horizon; 0 keeps every report)."""
    store = ctx.workspace.deployments
    found = store.get(query["name"])
    stale = query.integer("stale_after_s", 60, low=0, high=365 * 86400)
    return {
        "live": ctx.live is not None,
        "deployment": found.to_dict(),
        "targets": [_target(ctx, found, t) for t in found.spec.targets],
        "statuses": [s.to_dict() for s in store.statuses(found.name, stale_after_s=stale)],
    }


async def live(ctx: UiContext, query: Query) -> dict[str, Any]:
    """The server's live metrics of one deployment (``{"available": false}`` when the
    dashboard does not run inside the server). Runs on the event loop: no I/O."""
    if ctx.live is None:
        return {"available": False}
    return ctx.live.deployment(query["name"])


def _brief(d: Deployment) -> dict[str, Any]:
    spec = d.spec
    return {
        "name": d.name,
        "model": spec.model,
        "traffic": [{"target": r.target, "weight": r.weight} for r in spec.traffic],
        "shadow": list(spec.shadow),
        "revision": d.revision,
        "updated_at": d.updated_at,
        "description": spec.description,
    }


def _target(ctx: UiContext, found: Deployment, target: str) -> dict[str, Any]:
    uri = found.spec.target_uri(target)
    weights = {r.target: r.weight for r in found.spec.traffic}
    try:
        version: int | None = ctx.workspace.registry.resolve(uri).version
        error = None
    except (NotFoundError, ValidationError) as exc:
        version, error = None, exc.message
    return {
        "target": target,
        "uri": uri,
        "weight": weights.get(target),
        "shadow": target not in weights,
        "version": version,
        "error": error,
    }


PAGE = Page(
    name="deployments",
    title="Deployments",
    routes=(
        ApiRoute("/deployments", deployments),
        ApiRoute("/deployments/{name}", deployment),
        ApiRoute("/deployments/{name}/live", live),
    ),
)
