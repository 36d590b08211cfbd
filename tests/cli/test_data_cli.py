"""``modelyard data``, run as a real process over real CSV files and pipeline modules."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from clikit import Result
from clikit import modelyard as run_cli
from modelyard import Workspace
from modelyard.config import load_settings

PIPELINES = """
from pathlib import Path

from modelyard.data import Pipeline, checks, csv_source

COLUMNS = {"id": "BIGINT", "amount": "DOUBLE", "country": "VARCHAR"}
WORKSPACE = Path(__file__).resolve().parent.parent

x = Pipeline("x", schedule="*/15 * * * *", description="Transactions from CSV.")
x.source("raw", csv_source("raw/*.csv", columns=COLUMNS))

@x.sql
def cleaned(raw):
    return f"SELECT id, amount, upper(country) AS country FROM {raw}"

x.load("tx", "cleaned", checks=[
    checks.not_null("amount", policy="warn"),
    checks.in_range("amount", min=0, policy="quarantine"),
])

strict = Pipeline("strict")
strict.source("raw", csv_source("raw/*.csv", columns=COLUMNS))
strict.load("strict_tx", "raw", checks=[checks.in_range("amount", min=0)])

daily = Pipeline("daily")
daily.source("raw", csv_source("days/{ds}/*.csv", columns=COLUMNS))
daily.load("by_day", "raw")

flaky = Pipeline("flaky", retries=0)
flaky.source("raw", csv_source("raw/*.csv", columns=COLUMNS))

@flaky.transform
def gate(raw):
    marker = WORKSPACE / "fail-once"
    if marker.exists():
        marker.unlink()
        raise RuntimeError("failing once")
    return raw

flaky.load("flaky_tx", "gate")
"""


def modelyard(ws: Path, *args: str) -> Result:
    return run_cli("-w", str(ws), *args)


def ok_json(ws: Path, *args: str) -> Any:
    result = modelyard(ws, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write_csv(path: Path, *rows: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,amount,country\n" + "".join(r + "\n" for r in rows))
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with the pipelines above and one CSV file (one negative, one null)."""
    folder = tmp_path / "ws"
    assert modelyard(folder, "init", str(folder)).returncode == 0
    (folder / "pipelines").mkdir()
    (folder / "pipelines" / "x.py").write_text(PIPELINES)
    write_csv(folder / "raw" / "a.csv", "1,10.5,us", "2,-3,gb", "3,7.25,us", "4,,gb")
    return folder


def test_run_json_reports_versions_quarantine_checks_and_file_digests(ws: Path) -> None:
    digest = "sha256:" + hashlib.sha256((ws / "raw" / "a.csv").read_bytes()).hexdigest()

    run = ok_json(ws, "data", "run", "x")

    assert run["status"] == "SUCCEEDED"
    outputs = {o["kind"]: o for o in run["outputs"]}
    assert (outputs["data"]["dataset"], outputs["data"]["rows_added"]) == ("tx", 3)
    assert (outputs["quarantine"]["dataset"], outputs["quarantine"]["rows"]) == ("tx_quarantine", 1)
    assert [f["digest"] for f in run["inputs"][0]["files"]] == [digest]
    warned = {r["name"]: r["failed_rows"] for r in run["report"]["tx"] if not r["passed"]}
    assert warned == {"not_null(amount)": 1, "in_range(amount)": 1}


def test_run_prints_the_outcome_then_skips_unchanged_input(ws: Path) -> None:
    first = modelyard(ws, "data", "run", "x")
    again = modelyard(ws, "data", "run", "x")

    assert first.returncode == 0, first.stderr
    assert "SUCCEEDED" in first.stdout
    assert "tx@v1" in first.stdout and "loaded 3 row(s)" in first.stdout
    assert "quarantined 1 row(s)" in first.stdout
    assert "not_null(amount)" in first.stdout and "warn" in first.stdout
    assert first.stderr == ""
    assert again.returncode == 0 and "SKIPPED" in again.stdout


def test_a_failed_check_prints_its_report_and_exits_1(ws: Path) -> None:
    failed = modelyard(ws, "data", "run", "strict")
    as_json = modelyard(ws, "data", "run", "strict", "--json")

    assert failed.returncode == 1
    assert "Error: checks failed for dataset 'strict_tx'" in failed.stderr
    assert "in_range(amount)" in failed.stderr and "-3" in failed.stderr
    assert as_json.returncode == 1
    run = json.loads(as_json.stdout)
    assert run["status"] == "FAILED" and run["error"]["code"] == "check_failed"
    assert run["report"]["strict_tx"][0]["failed_rows"] == 1


def test_backfill_runs_each_day_in_order(ws: Path) -> None:
    write_csv(ws / "days" / "2024-01-01" / "a.csv", "1,1.0,us")
    write_csv(ws / "days" / "2024-01-02" / "b.csv", "2,2.0,us", "3,3.0,gb")

    runs = ok_json(ws, "data", "run", "daily", "--backfill", "2024-01-01..2024-01-02")

    assert [r["logical_date"] for r in runs] == ["2024-01-01", "2024-01-02"]
    assert [r["outputs"][0]["rows_added"] for r in runs] == [1, 2]


def test_a_backfill_range_that_ends_before_it_starts_is_an_error(ws: Path) -> None:
    result = modelyard(ws, "data", "run", "daily", "--backfill", "2024-01-02..2024-01-01")

    assert result.returncode == 1
    assert "ends before it starts" in result.stderr


def test_every_reports_a_failed_run_and_keeps_going(ws: Path) -> None:
    (ws / "fail-once").touch()

    result = modelyard(ws, "data", "run", "flaky", "--every", "1s", "--max-runs", "2", "--json")

    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED"]
    assert "failing once" in result.stderr
    assert runs[1]["outputs"][0]["rows_added"] == 4


def test_every_stops_on_ctrl_c_with_status_0(ws: Path) -> None:
    args = ["data", "run", "x", "--every", "schedule", "--json"]
    process = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "-w", str(ws), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C's default action, whatever the test runner left (an xdist worker may
        # ignore SIGINT, and a child inherits that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert first["status"] == "SUCCEEDED"
    assert process.returncode == 0, err
    assert "stopped after 1 run(s)" in err


def test_list_shows_pipelines_with_their_last_run_and_datasets(ws: Path) -> None:
    run = ok_json(ws, "data", "run", "x")

    listed = ok_json(ws, "data", "list")
    table = modelyard(ws, "data", "list")

    pipelines = {p["name"]: p for p in listed["pipelines"]}
    assert set(pipelines) == {"x", "strict", "daily", "flaky"}
    assert pipelines["x"]["schedule"] == "*/15 * * * *"
    assert pipelines["x"]["last_run"]["id"] == run["id"]
    assert pipelines["daily"]["last_run"] is None
    datasets = {d["name"]: d for d in listed["datasets"]}
    assert datasets["tx"]["versions"] == 1 and datasets["tx"]["latest"]["rows"] == 3
    assert datasets["tx_quarantine"]["kind"] == "quarantine"
    assert "x" in table.stdout and "SUCCEEDED" in table.stdout and "tx_quarantine" in table.stdout


def test_show_a_version_a_pipeline_and_a_run(ws: Path) -> None:
    run = ok_json(ws, "data", "run", "x")

    version = ok_json(ws, "data", "show", "tx@v1")
    pipeline = ok_json(ws, "data", "show", "x")
    by_id = ok_json(ws, "data", "show", run["id"][:10])
    readable = modelyard(ws, "data", "show", "tx@latest")

    assert version["run"]["id"] == run["id"] and version["version"]["rows"] == 3
    assert [c["name"] for c in version["version"]["schema"]] == ["id", "amount", "country"]
    assert pipeline["pipeline"]["loads"][0]["dataset"] == "tx"
    assert [r["id"] for r in pipeline["runs"]] == [run["id"]]
    assert by_id == run
    assert readable.returncode == 0, readable.stderr
    assert "tx@v1" in readable.stdout and "made by x run" in readable.stdout
    assert "█" in readable.stdout  # the histogram sparkline


def test_diff_compares_two_versions(ws: Path) -> None:
    ok_json(ws, "data", "run", "x")
    write_csv(ws / "raw" / "b.csv", "5,100,fr", "6,20,us")
    ok_json(ws, "data", "run", "x")

    change = ok_json(ws, "data", "diff", "tx@v1", "tx@v2")
    readable = modelyard(ws, "data", "diff", "tx@v1", "tx")

    assert change["appended"] is True
    assert (change["rows"]["a"], change["rows"]["b"]) == (3, 5)
    amount = next(c for c in change["columns"] if c["name"] == "amount")
    relative = pytest.approx(89.5 / 10.5)
    expected = {"a": 10.5, "b": 100.0, "change": 89.5, "relative": relative, "changed": True}
    assert amount["stats"]["max"] == expected
    assert amount["drift"]["psi"] > 0
    assert readable.returncode == 0 and "appends to" in readable.stdout


def test_lineage_tree_json_and_openlineage_reach_the_file_digest(ws: Path) -> None:
    run = ok_json(ws, "data", "run", "x")
    digest = run["inputs"][0]["files"][0]["digest"]

    graph = ok_json(ws, "data", "lineage", "tx@v1")
    tree = modelyard(ws, "data", "lineage", "tx@v1")
    events = modelyard(ws, "data", "lineage", "tx@v1", "--openlineage")

    files = [n for n in graph["nodes"] if n["kind"] == "source_file"]
    assert [f["attributes"]["digest"] for f in files] == [digest]
    assert digest[:19] in tree.stdout and "made by pipeline run" in tree.stdout
    assert events.returncode == 0, events.stderr
    start, complete = (json.loads(line) for line in events.stdout.splitlines())
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert uuid.UUID(complete["run"]["runId"]).hex == run["id"]
    assert complete["job"] == {**complete["job"], "namespace": "modelyard", "name": "x"}
    assert complete["inputs"][0]["facets"]["version"]["datasetVersion"] == digest
    outputs = complete["outputs"]
    rows = {o["name"]: o["outputFacets"]["outputStatistics"]["rowCount"] for o in outputs}
    assert rows == {"tx": 3, "tx_quarantine": 1}


def test_lineage_of_a_registered_model_reaches_the_source_file(ws: Path) -> None:
    run = ok_json(ws, "data", "run", "x")
    with Workspace(load_settings(ws)) as opened:
        opened.start()
        version = opened.datasets.get("tx")
        X = np.array([[1.0], [2.0], [3.0], [4.0]])
        with opened.start_run("fraud") as training:
            training.log_input("dataset_version", f"tx@{version.id}")
            model = LogisticRegression().fit(X, [0, 1, 0, 1])
        opened.registry.register("fraud", model, run_id=training.id, input_example=X[:2])

    graph = ok_json(ws, "data", "lineage", "models:/fraud/1")

    kinds = [n["kind"] for n in graph["nodes"]]
    assert kinds[:3] == ["model_version", "training_run", "dataset_version"]
    files = [n["attributes"]["digest"] for n in graph["nodes"] if n["kind"] == "source_file"]
    assert files == [run["inputs"][0]["files"][0]["digest"]]
