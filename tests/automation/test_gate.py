"""The promotion gate: a worse challenger fails it, a better one passes, on a holdout and
on labelled production data, with either test; in Python and as ``modelyard gate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automation.kit import MODEL, champion_and_challengers, deploy_with_traffic, frame
from clikit import modelyard
from modelyard import Workspace
from modelyard.automation import CheckResult, CheckStatus, DecisionKind, DecisionLog, gate
from modelyard.errors import ValidationError


def test_a_worse_challenger_fails_and_a_better_one_passes(workspace: Workspace) -> None:
    """On SQLite and PostgreSQL, with the paired bootstrap of ROC AUC."""
    worse_and_better(workspace, "paired_bootstrap")


def test_mcnemar_judges_accuracy(sqlite_workspace: Workspace) -> None:
    worse_and_better(sqlite_workspace, "mcnemar")


def worse_and_better(workspace: Workspace, test: str) -> None:
    versions = champion_and_challengers(workspace)
    deploy_with_traffic(workspace)
    holdout = frame(1000, 2)
    worse = gate(workspace, f"{MODEL}/{versions['worse']}", holdout=holdout, label="y", test=test)
    assert not worse.passed
    assert worse.summary.startswith(f"FAILED: models:/{MODEL}/{versions['worse']} is not better")
    assert worse.check("holdout").status is CheckStatus.FAILED
    assert worse.check("production").status is CheckStatus.FAILED
    assert worse.check("holdout").improvement < 0

    better = gate(workspace, f"{MODEL}/{versions['better']}", holdout=holdout, label="y", test=test)
    assert better.passed, better.summary
    for name in ("holdout", "production"):
        check = better.check(name)
        assert check.status is CheckStatus.PASSED
        assert check.improvement > 0 and check.p_value < 0.05
        assert check.metric == ("roc_auc" if test == "paired_bootstrap" else "accuracy")
    assert better.check("production").samples == 400

    decisions = DecisionLog(workspace.db).list(MODEL, kind=DecisionKind.GATE)
    assert [(d.version, d.outcome) for d in decisions] == [
        (versions["better"], "passed"),
        (versions["worse"], "failed"),
    ]
    assert decisions[0].baseline_version == versions["champion"]
    assert decisions[0].deployment == MODEL
    assert decisions[0].evidence["checks"][0]["name"] == "holdout"


def test_a_margin_the_candidate_does_not_clear_fails_it(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    candidate = f"{MODEL}/{champion_and_challengers(ws)['better']}"
    holdout = frame(1000, 2)
    result = gate(ws, candidate, holdout=holdout, label="y", metric="accuracy", margin=0.5)
    assert not result.passed
    assert "needs more than +0.5" in result.check("holdout").reason
    unrecorded = gate(ws, candidate, holdout=holdout, label="y", record=False)
    assert unrecorded.passed
    assert unrecorded.decision_id is None
    assert [d.outcome for d in DecisionLog(ws.db).list(MODEL)] == ["failed"]


def test_custom_checks_and_skipped_production(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    versions = champion_and_challengers(ws)  # not deployed: no production data

    def small_enough(ctx: object) -> tuple[bool, str]:
        return True, "fits"

    def never(ctx: object) -> CheckResult:
        return CheckResult("never", CheckStatus.FAILED, "no Fridays")

    def broken(ctx: object) -> bool:
        raise RuntimeError("boom")

    candidate = f"{MODEL}/{versions['better']}"
    result = gate(ws, candidate, holdout=frame(500, 2), label="y", checks=[small_enough])
    assert result.passed
    assert result.check("production").status is CheckStatus.SKIPPED
    assert result.check("small_enough").reason == "fits"
    failed = gate(ws, candidate, holdout=frame(500, 2), label="y", checks=[never, broken])
    assert not failed.passed
    assert "never: no Fridays" in failed.summary
    assert failed.check("broken").reason == "raised RuntimeError: boom"
    nothing = gate(ws, candidate)
    assert not nothing.passed
    assert "nothing to score the models on" in nothing.summary


def test_a_first_model_has_nothing_to_beat(sqlite_workspace: Workspace) -> None:
    from automation.kit import fit, register

    version = register(sqlite_workspace, fit(frame(300, 1), ("x1",)))
    result = gate(sqlite_workspace, f"{MODEL}/{version}")
    assert result.passed
    assert result.summary == f"PASSED: models:/{MODEL}/{version} has no champion to beat"


def test_bad_settings_are_validation_errors(sqlite_workspace: Workspace) -> None:
    versions = champion_and_challengers(sqlite_workspace)
    candidate = f"{MODEL}/{versions['better']}"
    with pytest.raises(ValidationError, match="McNemar's test compares accuracy"):
        gate(sqlite_workspace, candidate, test="mcnemar", metric="roc_auc")
    with pytest.raises(ValidationError, match="unknown gate metric 'auc'"):
        gate(sqlite_workspace, candidate, holdout=frame(50, 1), label="y", metric="auc")
    with pytest.raises(ValidationError, match="label column 'label'"):
        gate(sqlite_workspace, candidate, holdout=frame(50, 1), label="label")


def test_the_gate_command_exits_1_for_a_worse_candidate(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_workspace
    versions = champion_and_challengers(ws)
    deploy_with_traffic(ws)
    holdout = tmp_path / "holdout.parquet"
    frame(1000, 2).to_parquet(holdout)
    w = ["-w", str(ws.path)]
    args = ["--holdout", str(holdout), "--label", "y"]
    worse = modelyard(*w, "gate", f"{MODEL}/{versions['worse']}", "--against", "champion", *args)
    assert worse.returncode == 1
    first = worse.stdout.splitlines()[0]
    assert first.startswith(f"FAILED: models:/{MODEL}/{versions['worse']} is not better than")
    assert "holdout" in worse.stdout and "production" in worse.stdout
    better = modelyard(*w, "gate", f"{MODEL}/{versions['better']}", "--test", "mcnemar", *args)
    assert better.returncode == 0, better.stdout
    assert better.stdout.startswith("PASSED")
    as_json = modelyard(*w, "gate", f"{MODEL}/{versions['better']}", *args, "--json")
    body = json.loads(as_json.stdout)
    assert body["passed"] is True
    assert {c["name"] for c in body["checks"]} == {"holdout", "production"}
    bad = modelyard(*w, "gate", f"{MODEL}/{versions['better']}", "--test", "t-test")
    assert bad.returncode == 1
    assert "unknown gate test 't-test'" in bad.stderr
