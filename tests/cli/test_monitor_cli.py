"""``modelyard feedback``, ``monitor`` and ``alerts``: text, --json and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clikit import Result, modelyard
from modelyard import Workspace
from modelyard.config import load_settings
from monitorkit import classifier, deploy, predict


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace whose deployment ``m`` logged 8 predictions, with a drift reference."""
    with Workspace(load_settings(tmp_path)) as workspace:
        workspace.start()
        deploy(workspace, classifier())
        frame = pd.DataFrame({"x": np.random.default_rng(0).normal(0, 1, 500)})
        workspace.monitoring.set_reference("models:/m/1", frame)
        (result,) = predict(workspace, "m", [-2, -1, 1, 2, 3, 4, 5, 6])
    (tmp_path / "ids.json").write_text(json.dumps(result.prediction_ids))
    return tmp_path


def run(ws: Path, *args: str) -> Result:
    return modelyard("-w", str(ws), *args)


def ok_json(ws: Path, *args: str) -> object:
    result = run(ws, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ids(ws: Path) -> list[str]:
    loaded: list[str] = json.loads((ws / "ids.json").read_text())
    return loaded


def test_feedback_add_and_import_then_performance(ws: Path) -> None:
    first, *rest = ids(ws)
    assert ok_json(ws, "feedback", "add", first, "0") == {
        "prediction_id": first, "status": "created"
    }  # fmt: skip
    labels = pa.table({"prediction_id": rest, "label": [0, 1, 1, 1, 0, 0, 0]})
    pq.write_table(labels, ws / "labels.parquet")
    imported = ok_json(ws, "feedback", "import", str(ws / "labels.parquet"))

    performance = ok_json(ws, "monitor", "performance", "m", "--window", "1h")
    text = run(ws, "monitor", "performance", "m", "--window", "1h")

    assert isinstance(imported, dict) and imported["created"] == 7
    assert isinstance(performance, list)
    assert performance[-1]["version"] is None
    assert performance[-1]["metrics"]["accuracy"]["value"] == pytest.approx(5 / 8)
    assert "accuracy" in text.stdout and "0.625" in text.stdout


def test_health_and_drift(ws: Path) -> None:
    health = ok_json(ws, "monitor", "health", "m", "--window", "1h")
    drift = ok_json(ws, "monitor", "drift", "m", "--window", "1h")
    text = run(ws, "monitor", "drift", "m", "--window", "1h")

    assert isinstance(health, list) and health[0]["requests"] == 1 and health[0]["rows"] == 8
    assert isinstance(drift, dict) and list(drift["columns"]) == ["x"]
    assert text.returncode == 0 and "columns drifted" in text.stdout


def test_rules_evaluate_alerts_and_ack(ws: Path) -> None:
    added = run(ws, "alerts", "rules", "add", "busy", "-d", "m", "--when", "throughput_rps >= 0",
                "--window", "1h")  # fmt: skip
    assert added.returncode == 0, added.stderr
    rules = ok_json(ws, "alerts", "rules", "list")
    fired = ok_json(ws, "monitor", "evaluate")
    listed = ok_json(ws, "alerts", "list", "--status", "open")
    assert isinstance(rules, list) and rules[0]["metric"] == "throughput_rps"
    assert isinstance(fired, list) and fired[0]["status"] == "firing"
    assert isinstance(listed, list) and [a["id"] for a in listed] == [fired[0]["id"]]

    acked = ok_json(ws, "alerts", "ack", fired[0]["id"][:10], "--by", "me")
    text = run(ws, "alerts", "list")

    assert isinstance(acked, dict) and acked["status"] == "acknowledged"
    assert "acknowledged" in text.stdout and "busy" in text.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["feedback", "add", "nope-0", "1"], "no prediction logged"),
        (["monitor", "performance", "nope"], "deployment 'nope' does not exist"),
        (["monitor", "health", "m", "--window", "soon"], "duration"),
        (["alerts", "rules", "add", "r", "-d", "m", "--when", "accuracy low"], "THRESHOLD"),
        (["alerts", "rules", "add", "r", "-d", "m", "--when", "joy < 1"], "unknown metric"),
        (["alerts", "ack", "ffff"], "alert 'ffff' does not exist"),
        (["alerts", "list", "--status", "sleepy"], "unknown alert status"),
    ],
)
def test_errors_are_one_line(ws: Path, args: list[str], words: str) -> None:
    result = run(ws, *args)

    assert result.returncode == 1
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
