"""Run search through the store: filters with OR, ordering and pagination."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.errors import FilterSyntaxError, ValidationError
from modelyard.store import Database, ensure_schema
from modelyard.tracking._store import _search_statement


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


def test_an_equality_drives_a_search_within_experiments(
    workspace: Workspace, runs: dict[str, str]
) -> None:
    found = _names(
        workspace, "params.model = 'hgb' and metrics.auc > 0.9", experiments=["fraud", "other"]
    )
    assert sorted(found) == ["a", "e"]
    assert _names(workspace, "params.model = 'hgb'", experiments=["fraud"]) == ["b", "a"]


def test_numbers_in_a_list_compare_as_numbers(workspace: Workspace, runs: dict[str, str]) -> None:
    assert _names(workspace, "metrics.auc in (1, 0.95, 0.99)", order_by=["run_name"]) == ["a", "e"]


def test_pages_of_a_filtered_search_follow_its_ordering(
    workspace: Workspace, runs: dict[str, str]
) -> None:
    seen: list[list[str]] = []
    token = None
    while True:
        page = workspace.tracking.search_runs(
            filter="params.model = 'hgb' and metrics.auc > 0.5",
            order_by=["metrics.auc"],
            max_results=2,
            page_token=token,
        )
        seen.append([r.name for r in page.runs])
        token = page.next_page_token
        if token is None:
            break
    assert seen == [["b", "a"], ["e"]]


def test_an_equality_starts_the_search_on_sqlite(tmp_path: Path) -> None:
    """Runs come from the param's list, by primary key, and the metric is probed per run;
    left to itself SQLite would scan the experiment's runs and build both lists in full."""
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    ensure_schema(db, auto_migrate=True)
    stmt = _search_statement(
        db.engine.dialect, "params.p = 'v' and metrics.m > 0.5", ("metrics.m desc",), 1
    )
    with db.read() as conn:
        plan = [
            row[-1]
            for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {stmt.sql}",
                stmt.parameters({"limit": 1, "offset": 0, "experiment_0": "e"}),
            )
        ]
    db.dispose()
    assert plan[0].startswith("SEARCH runs USING INDEX sqlite_autoindex_runs")
    assert not any("ix_runs_experiment_id" in step for step in plan)
    assert any("CORRELATED" in step for step in plan)
