"""Module-level functions over the current workspace, for scripts and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard._workspace import Workspace, current_workspace, init_workspace
from modelyard.tracking import ActiveRun, Run, RunPage

if TYPE_CHECKING:
    from modelyard.registry import AliasEvent, LoadedModel, ModelVersion, Signature

__all__ = [
    "get_run",
    "init",
    "load_model",
    "register_model",
    "search_runs",
    "set_alias",
    "start_run",
]


def init(path: str | Path = ".") -> Workspace:
    """Create (or open) the workspace in ``path``."""
    return init_workspace(path)[0]


def start_run(
    experiment: str = "default",
    *,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    parent: ActiveRun | str | None = None,
) -> ActiveRun:
    """Start a run in ``experiment`` of the current workspace.

    Example:
        >>> with modelyard.start_run(experiment="fraud", params={"model": "hgb"}) as run:
        ...     run.log_metric("auc", 0.93)
    """
    return current_workspace().start_run(
        experiment, name=name, params=params, tags=tags, parent=parent
    )


def get_run(run_id: str) -> Run:
    return current_workspace().tracking.get_run(run_id)


def search_runs(
    filter: str | None = None,
    *,
    experiments: Sequence[str] | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> RunPage:
    """Search runs, e.g. ``search_runs("metrics.auc > 0.9 and (params.model = 'hgb' or
    params.model = 'lr')", order_by=["metrics.auc desc"])``."""
    return current_workspace().tracking.search_runs(
        experiments=experiments,
        filter=filter,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )


def register_model(
    name: str,
    model: object,
    *,
    run: ActiveRun | str | None = None,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``, linked to ``run``."""
    if isinstance(run, ActiveRun):
        run.flush()
    return current_workspace().registry.register(
        name,
        model,
        run_id=run.id if isinstance(run, ActiveRun) else run,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        description=description,
    )


def load_model(uri: str) -> LoadedModel:
    """Load ``models:/NAME@ALIAS`` or ``models:/NAME/N``, verified against its digest."""
    return current_workspace().registry.load(uri)


def set_alias(name: str, alias: str, version: int, *, reason: str | None = None) -> AliasEvent:
    """Point ``alias`` of model ``name`` at ``version``; the move is kept in its history."""
    return current_workspace().registry.set_alias(name, alias, version, reason=reason)
