"""Experiment tracking through the Python API, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelyard import Workspace
from modelyard.errors import (
    ExperimentNotFoundError,
    ParamConflictError,
    RunNotActiveError,
    RunNotFoundError,
    ValidationError,
)
from modelyard.store._schema import metrics
from modelyard.tracking import InputKind, RunStatus


def _stored_metric_rows(ws: Workspace) -> int:
    with ws.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(metrics)).scalar_one())


def test_a_run_records_params_metrics_tags_and_status(workspace: Workspace) -> None:
    with workspace.start_run("fraud", name="hgb-1", params={"model": "hgb", "depth": 6}) as run:
        run.set_tag("stage", "dev")
        run.log_metric("auc", 0.91)
    stored = workspace.tracking.get_run(run.id)
    assert stored.name == "hgb-1"
    assert stored.experiment == "fraud"
    assert stored.status == RunStatus.FINISHED
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.params == {"model": "hgb", "depth": "6"}
    assert stored.tags == {"stage": "dev"}
    assert stored.metrics["auc"].value == 0.91


def test_logging_the_same_param_value_again_is_fine(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)
    assert workspace.tracking.get_run(run.id).params == {"lr": "0.1"}


def test_a_param_logged_again_with_another_value_is_refused_and_changes_nothing(
    workspace: Workspace,
) -> None:
    with workspace.start_run("e") as run:
        run.log_params({"lr": 0.1})
        with pytest.raises(ParamConflictError, match="lr"):
            run.log_params({"new": "x", "lr": 0.2})
    assert workspace.tracking.get_run(run.id).params == {"lr": "0.1"}


def test_metrics_are_buffered_until_the_run_ends(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        for step in range(500):
            run.log_metric("loss", 1 / (step + 1), step=step)
        assert _stored_metric_rows(workspace) == 0
    assert _stored_metric_rows(workspace) == 500
    history = workspace.tracking.metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(500))


def test_a_full_buffer_is_flushed_during_the_run(workspace: Workspace, tmp_path: Path) -> None:
    from modelyard.tracking import ActiveRun

    run_id = workspace.tracking.create_run("e", name="r")
    run = ActiveRun(workspace.tracking, run_id, name="r", experiment="e", flush_rows=100)
    for step in range(250):
        run.log_metric("loss", float(step))
    assert _stored_metric_rows(workspace) == 200
    run.end()
    assert _stored_metric_rows(workspace) == 250


def test_steps_default_to_counting_up_per_key(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        run.log_metric("a", 1.0)
        run.log_metric("a", 2.0)
        run.log_metric("b", 3.0)
    assert [m.step for m in workspace.tracking.metric_history(run.id, "a")] == [0, 1]
    assert workspace.tracking.metric_history(run.id, "b")[0].step == 0


def test_latest_value_is_the_highest_step_not_the_last_logged(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        run.log_metric("acc", 0.9, step=10)
        run.flush()
        run.log_metric("acc", 0.5, step=3)
    assert workspace.tracking.get_run(run.id).metrics["acc"].value == 0.9
    assert len(workspace.tracking.metric_history(run.id, "acc")) == 2


def test_nan_and_infinite_metric_values_round_trip(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        run.log_metrics({"nan": math.nan, "inf": math.inf, "ninf": -math.inf})
    stored = workspace.tracking.get_run(run.id).metrics
    assert math.isnan(stored["nan"].value)
    assert stored["inf"].value == math.inf and stored["ninf"].value == -math.inf


def test_a_crash_inside_the_run_flushes_and_marks_it_failed(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), workspace.start_run("e") as run:
        run.log_metric("loss", 0.5)
        _ = 1 / 0
    stored = workspace.tracking.get_run(run.id)
    assert stored.status == RunStatus.FAILED
    assert stored.metrics["loss"].value == 0.5


def test_an_interrupted_run_is_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), workspace.start_run("e") as run:
        raise KeyboardInterrupt
    assert workspace.tracking.get_run(run.id).status == RunStatus.KILLED


def test_an_ended_run_takes_no_more_values(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        pass
    with pytest.raises(RunNotActiveError):
        run.log_metric("late", 1.0)
    with pytest.raises(RunNotActiveError):
        workspace.tracking.log_params(run.id, {"late": 1})


@pytest.mark.parametrize("bad", ["", " lead", "a" * 251, "semi;colon", 5])
def test_invalid_names_are_refused_before_anything_is_written(
    workspace: Workspace, bad: object
) -> None:
    with workspace.start_run("e") as run:
        with pytest.raises(ValidationError):
            run.log_metric(bad, 1.0)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            run.log_param(bad, 1)  # type: ignore[arg-type]
    assert workspace.tracking.get_run(run.id).params == {}


@pytest.mark.parametrize("bad", ["0.5", None, True, [1.0]])
def test_non_numeric_metric_values_are_refused(workspace: Workspace, bad: object) -> None:
    with workspace.start_run("e") as run, pytest.raises(ValidationError, match="number"):
        run.log_metric("m", bad)  # type: ignore[arg-type]


def test_artifacts_are_content_addressed(workspace: Workspace, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("fine")
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "roc.svg").write_text("<svg/>")
    with workspace.start_run("e") as run:
        file_info = run.log_artifact(report)
        dir_info = run.log_artifact(folder, name="figures")
    stored = {a.path: a for a in workspace.tracking.get_run(run.id).artifacts}
    assert stored["report.txt"].digest == file_info.digest
    assert stored["figures"].is_dir and dir_info.is_dir
    assert workspace.artifacts.get_bytes(file_info.digest) == b"fine"


def test_missing_artifact_file_is_a_validation_error(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.start_run("e") as run, pytest.raises(ValidationError, match="no such file"):
        run.log_artifact(tmp_path / "nope.txt")


def test_lineage_inputs_are_recorded_once(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        run.log_input(InputKind.DATASET_VERSION, "transactions@sha256:ab", digest="sha256:ab")
        run.log_input("dataset_version", "transactions@sha256:ab", digest="sha256:ab")
        with pytest.raises(ValidationError, match="unknown input kind"):
            run.log_input("spreadsheet", "x")
    inputs = workspace.tracking.get_run(run.id).inputs
    assert [(i.kind, i.ref, i.role) for i in inputs] == [
        ("dataset_version", "transactions@sha256:ab", "training")
    ]


def test_nested_runs_record_their_parent(workspace: Workspace) -> None:
    with workspace.start_run("tune") as parent, workspace.start_run("tune", parent=parent) as child:
        pass
    assert workspace.tracking.get_run(child.id).parent_run_id == parent.id


def test_unknown_run_and_experiment_are_not_found(workspace: Workspace) -> None:
    with pytest.raises(RunNotFoundError):
        workspace.tracking.get_run("0" * 32)
    with pytest.raises(ExperimentNotFoundError):
        workspace.tracking.search_runs(experiments=["nope"])


def test_run_ids_resolve_from_a_unique_prefix(workspace: Workspace) -> None:
    with workspace.start_run("e") as run:
        pass
    assert workspace.tracking.resolve_run_id(run.id[:8]) == run.id
    with pytest.raises(RunNotFoundError):
        workspace.tracking.resolve_run_id("zzzzzzzz")


def test_git_commit_of_the_code_is_recorded(workspace: Workspace, tmp_path: Path) -> None:
    from modelyard.tracking._git import _commit_at

    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    (tmp_path / "repo" / "src").mkdir()
    assert _commit_at(tmp_path / "repo" / "src") == "a" * 40
