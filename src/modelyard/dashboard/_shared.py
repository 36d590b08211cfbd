"""Routes every page may read: what the dashboard shows, and the lineage of anything."""

from __future__ import annotations

from typing import Any

import modelyard
from modelyard.dashboard._page import ApiRoute, Query, UiContext
from modelyard.dashboard.pages import PAGES
from modelyard.errors import ValidationError

__all__ = ["ROUTES"]


def info(ctx: UiContext, _query: Query) -> dict[str, Any]:
    """The pages, the workspace and whether live server metrics are available."""
    return {
        "version": modelyard.__version__,
        "workspace": str(ctx.workspace.path),
        "live": ctx.live is not None,
        "pages": [{"name": p.name, "title": p.title} for p in PAGES],
    }


def lineage(ctx: UiContext, query: Query) -> dict[str, Any]:
    """Everything upstream of ``ref``: a model URI, a dataset version, a training or
    pipeline run id (see ``modelyard data lineage``)."""
    ref = query.text("ref", max_length=600).strip()
    if not ref:
        raise ValidationError("give the ref whose lineage to draw", details={"parameter": "ref"})
    return ctx.workspace.lineage(ref).to_dict()


ROUTES = (ApiRoute("/info", info), ApiRoute("/lineage", lineage))
