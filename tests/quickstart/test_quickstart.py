"""The quickstart end to end on a small data set."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from rich.console import Console

from modelyard import Workspace
from modelyard.quickstart import FEATURES, add_features, generate_transactions, run_quickstart


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
        (dataset,) = run.inputs
        assert dataset.kind == "dataset_version"
        assert dataset.ref == f"transactions@{result.dataset.id}"
        exports = sorted((ws.path / "data" / "raw").glob("*.csv"))
        reached = {f.attributes["digest"] for f in ws.lineage(champion.uri).source_files()}
        assert reached == {"sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in exports}
        assert result.dataset.rows == 20_000 - 6  # three bad amounts, three bad channels
        quarantine = ws.datasets.read("transactions_quarantine")
        assert quarantine.num_rows == 6
        frame = add_features(generate_transactions(500, seed=3)).select(list(FEATURES)).to_pandas()
        loaded = ws.registry.load("models:/fraud@champion")
        assert loaded.predict(frame).shape == (500,)
        history = ws.registry.alias_history("fraud", "champion")
        assert "best holdout ROC AUC" in (history[0].reason or "")
    assert "models:/fraud@champion" in out.getvalue()


def test_the_loaded_champion_predicts_like_the_trained_model(tmp_path: Path) -> None:
    result = run_quickstart(tmp_path / "ws", rows=10_000, console=Console(file=io.StringIO()))
    frame = add_features(generate_transactions(300, seed=5)).select(list(FEATURES)).to_pandas()
    with Workspace.open(result.workspace) as ws:
        first = ws.registry.load("models:/fraud@champion").predict(frame)
        again = ws.registry.load(result.champion.uri).predict(frame)
    np.testing.assert_array_equal(first, again)
