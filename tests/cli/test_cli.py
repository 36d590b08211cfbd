"""The ``modelyard`` command: output, --json, and errors as one line (in this process, and
as a real process where the process itself matters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from clikit import modelyard, modelyard_process
from modelyard import Workspace
from modelyard.config import load_settings


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A workspace with two runs and a registered model with a champion alias."""
    ws_dir = tmp_path / "ws"
    assert modelyard("init", str(ws_dir)).returncode == 0
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    with Workspace(load_settings(ws_dir)) as ws:
        ws.start()
        for c in (0.1, 1.0):
            with ws.start_run("exp", name=f"lr-{c}", params={"C": c}) as run:
                model = LogisticRegression(C=c).fit(X, y)
                run.log_metric("acc", model.score(X, y))
        version = ws.registry.register("clf", model, run_id=run.id, input_example=X[:3])
        ws.registry.set_alias("clf", "champion", version.version)
    return ws_dir


def test_init_creates_a_workspace(tmp_path: Path) -> None:
    result = modelyard_process("init", str(tmp_path / "new"))  # the real entry point
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "modelyard.toml").is_file()
    assert (tmp_path / "new" / ".modelyard" / "metadata.db").is_file()
    again = modelyard("init", str(tmp_path / "new"))
    assert "already a workspace" in again.stdout


def test_runs_list_json_is_filtered_and_ordered(filled: Path) -> None:
    result = modelyard(
        "-w",
        str(filled),
        "runs",
        "list",
        "-f",
        "params.C = '1.0' or params.C = '0.1'",
        "-o",
        "run_name desc",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    names = [r["name"] for r in json.loads(result.stdout)["runs"]]
    assert names == ["lr-1.0", "lr-0.1"]


def test_runs_show_and_compare_accept_id_prefixes(filled: Path) -> None:
    runs = json.loads(modelyard("-w", str(filled), "runs", "list", "--json").stdout)["runs"]
    ids = [r["id"][:10] for r in runs]
    shown = modelyard("-w", str(filled), "runs", "show", ids[0], "--json")
    assert json.loads(shown.stdout)["id"] == runs[0]["id"]
    compared = json.loads(modelyard("-w", str(filled), "runs", "compare", *ids, "--json").stdout)
    differing = {row["field"] for row in compared["rows"] if row["differs"]}
    assert "params.C" in differing


def test_workspace_is_found_upward_from_the_current_folder(filled: Path) -> None:
    sub = filled / "deep" / "er"
    sub.mkdir(parents=True)
    result = modelyard("models", "list", "--json", cwd=sub)
    assert [m["name"] for m in json.loads(result.stdout)] == ["clf"]


def test_models_commands(filled: Path) -> None:
    w = ["-w", str(filled)]
    show = json.loads(modelyard(*w, "models", "show", "clf@champion", "--json").stdout)
    assert show["version"] == 1
    assert show["signature"]["inputs"]
    check = modelyard(*w, "models", "load-check", "models:/clf@champion", "--json")
    assert json.loads(check.stdout)["verified"] is True
    assert modelyard(*w, "models", "alias", "clf", "challenger", "1").returncode == 0
    history = json.loads(modelyard(*w, "models", "history", "clf", "--json").stdout)
    assert [e["alias"] for e in history] == ["challenger", "champion"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "list", "-f", "metrics.acc >"], "position 13"),
        (["runs", "show", "ffffffffffff"], "does not exist"),
        (["models", "show", "nope"], "not registered"),
        (["models", "load-check", "models:/clf@staging"], "no alias 'staging'"),
        (["models", "alias", "clf", "latest", "1"], "reserved"),
        (["models", "alias", "clf", "champion", "9"], "no version 9"),
        (["models", "rollback", "clf"], "no earlier version"),
    ],
)
def test_errors_are_one_line_with_exit_status_1(filled: Path, args: list[str], needle: str) -> None:
    result = modelyard("-w", str(filled), *args)
    assert result.returncode == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_clear_line(filled: Path) -> None:
    result = modelyard_process(
        "-w",
        str(filled),
        "runs",
        "list",
        env={"MODELYARD_METADATA_URL": "postgresql://u:secret@127.0.0.1:1/x"},
    )
    assert result.returncode == 1
    assert "cannot reach the metadata database" in result.stderr
    assert "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_configuration_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "modelyard.toml").write_text("tracking_flush_rows = 'many'\n")
    result = modelyard("-w", str(tmp_path), "runs", "list")
    assert result.returncode == 1
    assert "tracking_flush_rows" in result.stderr
    assert "Traceback" not in result.stderr
