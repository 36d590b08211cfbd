"""Training recipes: a workspace function trained as a tracked run with lineage, its
holdout kept for the gate, registered once per key, also as a ``train`` job."""

from __future__ import annotations

import pytest

from automation.recipekit import prepare
from modelyard import Workspace
from modelyard.automation import (
    CheckStatus,
    DecisionKind,
    DecisionLog,
    gate,
    load_recipes,
    train,
)
from modelyard.errors import NotFoundError
from modelyard.jobs import JobStatus, Worker


def test_a_recipe_trains_a_tracked_registered_version_once_per_key(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    prepare(ws)
    assert list(load_recipes(ws)) == ["demo"]
    first = train(ws, "demo", key="k1")
    assert (first.version.name, first.version.version, first.reused) == ("m", 1, False)
    assert first.metrics["roc_auc"] > 0.9
    run = ws.tracking.get_run(first.run_id)
    assert run.experiment == "m" and run.params["C"] == "1.0"
    inputs = {(i.kind, i.ref.split("@")[0]) for i in run.inputs}
    assert {("dataset_version", "events"), ("feature_view", "user_stats")} <= inputs
    assert "holdout.parquet" in {a.path for a in run.artifacts}
    assert run.metrics["holdout_roc_auc"].value == pytest.approx(first.metrics["roc_auc"])

    again = train(ws, "demo", key="k1")
    assert again.reused and again.version.version == 1
    assert [v.version for v in ws.registry.versions("m")] == [1]
    decisions = DecisionLog(ws.db).list("m", kind=DecisionKind.TRAIN)
    assert len(decisions) == 1 and decisions[0].summary.startswith("recipe demo trained")

    with pytest.raises(NotFoundError, match="recipe 'nope' does not exist \\(recipes: demo\\)"):
        train(ws, "nope")


def test_the_train_job_and_the_gate_on_the_recipes_holdout(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    prepare(ws)
    ws.registry.set_alias("m", "champion", train(ws, "demo").version.version)
    job = ws.jobs.enqueue("train", {"recipe": "demo"})
    assert Worker(ws.jobs, ws).run(drain=True) == {"SUCCEEDED": 1}
    done = ws.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.result is not None
    assert done.result["version"] == 2

    result = gate(ws, "m/2", checks=load_recipes(ws)["demo"].checks)
    holdout = result.check("holdout")
    assert holdout.samples == 120  # the latest 20% of 600 rows, kept with the run
    assert "the holdout of run" in holdout.details["source"]
    assert result.check("has_two_inputs").status is CheckStatus.PASSED
    assert not result.passed  # the same recipe on the same data is no better
