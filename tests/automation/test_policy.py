"""Retraining policies: new data and alerts trigger a ``retrain`` job (train, gate,
canary), once; the loop advances the canary; every step is in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automation.recipekit import events, prepare
from clikit import modelyard
from modelyard import Workspace
from modelyard.automation import (
    CanaryStatus,
    DecisionKind,
    DecisionLog,
    evaluate_policies,
    list_canaries,
    load_policies,
    run_automation,
    train,
)
from modelyard.deployments import DeploymentSpec
from modelyard.errors import ValidationError
from modelyard.jobs import JobStatus, Worker
from modelyard.monitoring import AlertRule, Measurement
from modelyard.registry import ColumnSpec, Signature

X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


class Constant:
    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


POLICIES = """
[policies.m]
recipe = "demo"
on_drift = true
on_new_data = true
cooldown = 0

[policies.m.canary]
share = 0.2
duration_s = 1
"""


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    """A champion trained by the recipe on labels that are coin flips, deployed as m."""
    prepare(workspace, signal=False)
    champion = train(workspace, "demo").version.version
    workspace.registry.set_alias("m", "champion", champion)
    workspace.deployments.create(DeploymentSpec(name="m", model="m"))
    (workspace.path / "policies.toml").write_text(POLICIES)
    return workspace


def test_new_data_retrains_gates_and_starts_a_canary(ws: Workspace) -> None:
    assert evaluate_policies(ws) == []  # the champion was trained on the latest data
    ws.datasets.write("events", events(1500, 2))  # labels with a signal now
    (trigger,) = evaluate_policies(ws)
    assert trigger.reasons[0].startswith("new data: events@")
    assert evaluate_policies(ws) == []  # its retraining is queued

    assert Worker(ws.jobs, ws).run(drain=True) == {"SUCCEEDED": 1}
    job = ws.jobs.get(trigger.job.id)
    assert job.status is JobStatus.SUCCEEDED and job.result is not None
    assert job.result["gate"]["passed"] is True, job.result["gate"]["summary"]
    assert job.result["trained"]["version"] == 2
    canary = list_canaries(ws, "m")[0]
    assert (canary.status, canary.challenger_version) == (CanaryStatus.RUNNING, 2)
    assert [(r.target, r.weight) for r in ws.deployments.get("m").spec.traffic] == [
        ("champion", 0.8),
        ("challenger", 0.2),
    ]

    done = run_automation(ws, alerts=False, now=canary.started_at + 2000)
    assert [c.status for c in done.canaries] == [CanaryStatus.ROLLED_BACK]  # no traffic
    kinds = [d.kind for d in DecisionLog(ws.db).list("m")]
    assert kinds == [
        DecisionKind.CANARY_ROLLBACK,
        DecisionKind.CANARY_START,
        DecisionKind.GATE,
        DecisionKind.TRAIN,
        DecisionKind.RETRAIN,
        DecisionKind.TRAIN,
    ]
    assert {d.job_id for d in DecisionLog(ws.db).list("m")[1:5]} == {job.id}


def test_a_drift_alert_triggers_a_retraining(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.registry.register("m", Constant(), signature=X_ONLY)
    ws.registry.set_alias("m", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="m", model="m"))
    (ws.path / "policies.toml").write_text(POLICIES.replace("on_new_data = true\n", ""))
    rule = AlertRule("m-drift", "m", "drift_share", ">=", 0.3, window_s=3600)
    ws.monitoring.add_rule(rule)
    fired = ws.monitoring.alerts.evaluate(lambda _: Measurement(0.5, 500, {}))
    assert [a.rule for a in fired] == ["m-drift"]
    (trigger,) = evaluate_policies(ws)
    assert trigger.reasons == ("drift alert m-drift: drift_share >= 0.3",)
    decision = DecisionLog(ws.db).latest(DecisionKind.RETRAIN, deployment="m")
    assert decision is not None and decision.job_id == trigger.job.id


def test_bad_policies_are_clear_errors(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    (ws.path / "policies.toml").write_text('[policies.m]\nrecipe = "demo"\nschedule = "soon"\n')
    with pytest.raises(ValidationError, match=r"invalid policy 'm'.*schedule"):
        load_policies(ws)


def test_the_automate_commands(sqlite_workspace: Workspace, tmp_path: Path) -> None:
    ws = sqlite_workspace
    prepare(ws, signal=False)
    ws.registry.set_alias("m", "champion", train(ws, "demo").version.version)
    ws.deployments.create(DeploymentSpec(name="m", model="m"))
    (ws.path / "policies.toml").write_text(POLICIES)
    w = ["-w", str(ws.path)]
    listed = modelyard(*w, "automate", "policies")
    assert listed.returncode == 0 and "demo" in listed.stdout
    ws.datasets.write("events", events(1500, 2))
    first = modelyard(*w, "automate", "run", "--no-alerts")
    assert first.returncode == 0, first.stderr
    assert "retraining m" in first.stdout and "new data" in first.stdout
    assert modelyard(*w, "worker", "--drain").returncode == 0
    canaries = modelyard(*w, "automate", "canaries")
    assert "running" in canaries.stdout and "v2" in canaries.stdout
    ended = modelyard(*w, "automate", "canary", "end", "m", "--rollback", "--reason", "enough")
    assert ended.returncode == 0, ended.stderr
    assert "rolled_back" in ended.stdout
