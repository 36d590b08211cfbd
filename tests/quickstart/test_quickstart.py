"""The quickstart end to end on a small data set."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from modelyard import Workspace
from modelyard.quickstart import MODEL_INPUTS, SERVICE, run_quickstart


def test_the_quickstart_trains_serves_monitors_and_retrains_on_its_own(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_quickstart(tmp_path / "ws", rows=80_000, console=Console(file=out, width=120))
    assert set(result.run_ids) == {"logistic_regression", "hist_gradient_boosting"}
    best = max(result.scores, key=lambda n: result.scores[n])
    assert result.scores[best] > 0.8
    with Workspace.open(tmp_path / "ws") as ws:
        first = ws.registry.get_version("fraud", 1)  # the first champion
        assert first.run_id == result.run_ids[best]
        run = ws.tracking.get_run(first.run_id)
        assert run.metrics["roc_auc"].value == result.scores[best]
        kinds = sorted((i.kind, i.ref.split("@")[0]) for i in run.inputs)
        assert kinds == [
            ("dataset_version", "merchant_stats"),
            ("dataset_version", "transactions"),
            ("dataset_version", "user_stats"),
            ("feature_view", "merchant_stats"),
            ("feature_view", "user_stats"),
        ]
        assert first.signature is not None
        assert [c.name for c in first.signature.inputs] == list(MODEL_INPUTS)
        assert result.dataset.rows == 80_000 - 6  # three bad amounts, three bad channels
        assert ws.datasets.read("transactions_quarantine").num_rows == 6
        exports = {
            "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (ws.path / "data" / "raw").glob("*.csv")
        }
        before = {f.attributes["digest"] for f in ws.lineage(first.uri).source_files()}
        # the shifted days raised both alerts, which retrained the model; the new version
        # passed the gate and the canary
        alerts = sorted(a.rule for a in result.monitoring.alerts)
        assert alerts == ["fraud-f1-drop", "fraud-input-drift"]
        loop = result.loop
        assert (loop.retrained, loop.canary, loop.champion) == (
            "models:/fraud/2", "promoted", "models:/fraud/2"
        )  # fmt: skip
        assert loop.gate.startswith("PASSED")
        after = {
            f.attributes["digest"] for f in ws.lineage("models:/fraud@champion").source_files()
        }
        history = ws.registry.alias_history("fraud", "champion")
    assert before < after == exports  # retrained on the later days' export too
    assert "best holdout ROC AUC" in (history[-1].reason or "")
    assert "models:/fraud@champion" in out.getvalue()


def test_the_deployment_serves_features_from_the_online_store_without_skew(
    tmp_path: Path,
) -> None:
    result = run_quickstart(tmp_path / "ws", rows=10_000, console=Console(file=io.StringIO()))

    assert result.skew.compared > 0
    assert result.skew.mismatches == []
    watched = result.monitoring  # later, shifted days replayed through the deployment
    assert watched.predictions == watched.labels == 1_000
    assert result.loop.gate != "no gate ran"  # the alerts retrained; the gate decided
    assert "log_amount" in watched.drifted_columns
    assert "fraud-input-drift" in [a.rule for a in watched.alerts]
    assert watched.report.is_file()
    with Workspace.open(result.workspace) as ws:  # a broken online value is caught
        row = ws.datasets.read("user_stats").slice(0, 1).to_pylist()[0]
        row |= {"user_txn_count_1h": 999_999, "event_timestamp": pd.Timestamp.now(tz="UTC")}
        ws.features.push("user_stats", {k: [v] for k, v in row.items()}, to="online")
        report = ws.features.skew(SERVICE, sample=10_000)
    broken = ("user_txn_count_1h", {"user_id": row["user_id"]}, 999_999)
    assert broken in [(m.feature, m.entity, m.online) for m in report.mismatches]
    assert {m.entity["user_id"] for m in report.mismatches} == {row["user_id"]}
