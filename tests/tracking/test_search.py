"""Run search through the store: filters with OR, ordering and pagination."""

from __future__ import annotations

import pytest

from modelyard import Workspace
from modelyard.errors import FilterSyntaxError, ValidationError


@pytest.fixture
def runs(workspace: Workspace) -> dict[str, str]:
    ids = {}
    for name, model, auc in [
        ("a", "hgb", 0.95),
        ("b", "hgb", 0.85),
        ("c", "lr", 0.80),
        ("d", "rf", 0.92),
    ]:
        with workspace.start_run("fraud", name=name, params={"model": model}) as run:
            run.log_metric("auc", auc)
        ids[name] = run.id
    with workspace.start_run("other", name="e", params={"model": "hgb"}) as run:
        run.log_metric("auc", 0.99)
    ids["e"] = run.id
    return ids


def _names(workspace: Workspace, filter_: str, **kwargs: object) -> list[str]:
    page = workspace.tracking.search_runs(filter=filter_, **kwargs)  # type: ignore[arg-type]
    return [r.name for r in page.runs]


def test_mlflow_style_and_filter(workspace: Workspace, runs: dict[str, str]) -> None:
    found = _names(workspace, "metrics.auc > 0.9 and params.model = 'hgb'", order_by=["run_name"])
    assert found == ["a", "e"]


def test_or_with_parentheses(workspace: Workspace, runs: dict[str, str]) -> None:
    found = _names(
        workspace,
        "(params.model = 'lr' or params.model = 'rf') and metrics.auc >= 0.8",
        order_by=["metrics.auc desc"],
    )
    assert found == ["d", "c"]


def test_experiments_narrow_the_search(workspace: Workspace, runs: dict[str, str]) -> None:
    assert "e" not in _names(workspace, "", experiments=["fraud"])


def test_pages_cover_every_run_once(workspace: Workspace, runs: dict[str, str]) -> None:
    seen: list[str] = []
    token = None
    while True:
        page = workspace.tracking.search_runs(
            order_by=["metrics.auc desc"], max_results=2, page_token=token
        )
        seen += [r.name for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert seen == ["e", "a", "d", "b", "c"]


def test_malformed_filter_points_at_the_position(
    workspace: Workspace, runs: dict[str, str]
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        workspace.tracking.search_runs(filter="metrics.auc > 0.9 and params.model =")
    assert info.value.position == len("metrics.auc > 0.9 and params.model =")


def test_a_forged_page_token_is_refused(workspace: Workspace) -> None:
    with pytest.raises(ValidationError, match="page token"):
        workspace.tracking.search_runs(page_token="garbage!")
