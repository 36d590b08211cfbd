"""The quickstart end to end on a small data set."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
from rich.console import Console

from modelyard import Workspace
from modelyard.quickstart import MODEL_INPUTS, SERVICE, run_quickstart


def test_quickstart_tracks_two_runs_and_registers_the_better_as_champion(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_quickstart(tmp_path / "ws", rows=20_000, console=Console(file=out, width=120))
    assert set(result.run_ids) == {"logistic_regression", "hist_gradient_boosting"}
    best = max(result.scores, key=lambda n: result.scores[n])
    with Workspace.open(tmp_path / "ws") as ws:
        champion = ws.registry.resolve("models:/fraud@champion")
        assert champion.run_id == result.run_ids[best]
        run = ws.tracking.get_run(champion.run_id)
        assert run.metrics["roc_auc"].value == result.scores[best]
        kinds = sorted((i.kind, i.ref.split("@")[0]) for i in run.inputs)
        assert kinds == [
            ("dataset_version", "merchant_stats"),
            ("dataset_version", "transactions"),
            ("dataset_version", "user_stats"),
            ("feature_view", "merchant_stats"),
            ("feature_view", "user_stats"),
        ]
        exports = sorted((ws.path / "data" / "raw").glob("*.csv"))
        reached = {f.attributes["digest"] for f in ws.lineage(champion.uri).source_files()}
        assert reached == {"sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in exports}
        assert result.dataset.rows == 20_000 - 6  # three bad amounts, three bad channels
        quarantine = ws.datasets.read("transactions_quarantine")
        assert quarantine.num_rows == 6
        assert champion.signature is not None
        assert [c.name for c in champion.signature.inputs] == list(MODEL_INPUTS)
        history = ws.registry.alias_history("fraud", "champion")
        assert "best holdout ROC AUC" in (history[0].reason or "")
    assert result.scores[best] > 0.8
    assert "models:/fraud@champion" in out.getvalue()


def test_the_deployment_serves_features_from_the_online_store_without_skew(
    tmp_path: Path,
) -> None:
    result = run_quickstart(tmp_path / "ws", rows=10_000, console=Console(file=io.StringIO()))

    assert result.skew.compared > 0
    assert result.skew.mismatches == []
    watched = result.monitoring  # later, shifted days replayed through the deployment
    assert watched.predictions == watched.labels == 1_000
    assert "log_amount" in watched.drifted_columns
    assert sorted(a.rule for a in watched.alerts) == ["fraud-f1-drop", "fraud-input-drift"]
    assert watched.report.is_file()
    with Workspace.open(result.workspace) as ws:  # a broken online value is caught
        row = ws.datasets.read("user_stats").slice(0, 1).to_pylist()[0]
        row |= {"user_txn_count_1h": 999_999, "event_timestamp": pd.Timestamp.now(tz="UTC")}
        ws.features.push("user_stats", {k: [v] for k, v in row.items()}, to="online")
        report = ws.features.skew(SERVICE, sample=10_000)
    broken = ("user_txn_count_1h", {"user_id": row["user_id"]}, 999_999)
    assert broken in [(m.feature, m.entity, m.online) for m in report.mismatches]
    assert {m.entity["user_id"] for m in report.mismatches} == {row["user_id"]}
