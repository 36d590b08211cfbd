"""The quickstart's closed loop: the alerts retrain the model, which is gated, canaried
and promoted on its own.

Two modules are written into the workspace: ``recipes/fraud.py`` (how the model is
trained: the feature service over the ``transactions`` dataset) and ``policies.toml``
(retrain the ``fraud`` deployment on a drift or performance alert; gate on ROC AUC; a
canary of half the traffic). The replayed days arrive as a new daily export with their
labels; the pipelines and the online store catch up. One automation round sees the open
alerts and enqueues a retraining job; a worker trains, gates and starts the canary; a
further shifted day goes through the deployment, split between champion and challenger,
with its labels; the next round compares their live metrics and promotes the challenger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from modelyard._workspace import Workspace
from modelyard.quickstart._data import LABEL
from modelyard.quickstart._monitoring import later_days, score_through

__all__ = ["LoopResult", "close_the_loop", "write_automation"]

RECIPE_MODULE = '''\
"""The fraud model's training recipe: what a retraining job runs
(`modelyard automate run`, or `modelyard jobs enqueue retrain`)."""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from modelyard import automation
from modelyard.quickstart import MODEL_INPUTS, SERVICE
from modelyard.quickstart._features import entity_rows


@automation.recipe(
    "fraud",
    model="fraud",
    dataset="transactions",
    features=SERVICE,
    label="is_fraud",
    entities=entity_rows,
    inputs=MODEL_INPUTS,
    holdout=0.05,
)
def fraud(data: automation.TrainingData):
    """Gradient-boosted trees; the newest tenth of the rows (they come in time order)
    counts ten times as much: the world moves."""
    recent = np.arange(len(data.train)) >= 0.9 * len(data.train)
    model = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.08, max_leaf_nodes=31, early_stopping=True,
        validation_fraction=0.1, n_iter_no_change=20, random_state=0,
    )
    return model.fit(data.X, data.y, sample_weight=np.where(recent, 10.0, 1.0))
'''

POLICIES = """\
# When the fraud deployment's model is retrained, and how a new version is rolled out.

[policies.fraud]
recipe = "fraud"              # recipes/fraud.py
on_drift = true               # an open drift alert
on_performance = true         # an open alert on f1, accuracy, roc_auc...
cooldown = "1h"

[policies.fraud.gate]         # better than the champion on its holdout and on labelled
metric = "roc_auc"            # production data, by more than the margin, significantly
margin = 0.0
window = "7d"

[policies.fraud.canary]       # half the traffic until 1,000 challenger predictions
share = 0.5
predictions = 1000
max_latency_ratio = 3.0       # the replay's few batches of 250 rows share this machine
latency_slack_ms = 100        # with everything else it runs: one slow batch is its p95
"""


@dataclass(frozen=True, slots=True)
class LoopResult:
    retrained: str | None  # the challenger's URI
    gate: str  # the gate's summary
    canary: str  # promoted, rolled back, running or none
    champion: str  # the champion's URI at the end


def write_automation(workspace: Workspace) -> tuple[Path, Path]:
    """The recipe module and ``policies.toml``, into the workspace."""
    folder = workspace.path / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    recipe = folder / "fraud.py"
    recipe.write_text(RECIPE_MODULE)
    policies = workspace.path / "policies.toml"
    policies.write_text(POLICIES)
    return recipe, policies


def _export(workspace: Workspace, transactions: pa.Table) -> None:
    """The replayed days, labelled, as the next daily exports."""
    days = pc.strftime(transactions.column("event_timestamp"), format="%Y-%m-%d")
    folder = workspace.path / "data" / "raw"
    for day in pc.unique(days).to_pylist():
        part = transactions.filter(pc.equal(days, day))
        pcsv.write_csv(part, folder / f"transactions-{day}.csv")


def close_the_loop(
    workspace: Workspace,
    deployment: str,
    replayed: pa.Table,
    start: dt.datetime,
    seed: int,
) -> LoopResult:
    """Catch up the data, retrain on the alerts, gate, canary and promote."""
    from modelyard import automation
    from modelyard.jobs import Worker
    from modelyard.quickstart._features import FEATURE_PIPELINE
    from modelyard.quickstart._pipeline import PIPELINE

    _export(workspace, replayed)
    workspace.pipelines.run(PIPELINE)
    workspace.pipelines.run(FEATURE_PIPELINE)
    workspace.features.materialize()

    automation.run_automation(workspace)  # open alerts -> a retraining job
    Worker(workspace.jobs, workspace).run(drain=True)  # train, gate, start the canary
    model = workspace.deployments.get(deployment).spec.model
    gates = automation.DecisionLog(workspace.db).list(model, kind="gate", limit=1)
    started = automation.list_canaries(workspace, deployment, limit=1)
    if started and started[0].running:
        more = later_days(start, max(2_000, replayed.num_rows // 2), seed, days=1)
        ids = asyncio.run(score_through(workspace, deployment, more))
        labels = more.column(LABEL).cast(pa.int64()).to_pylist()
        workspace.monitoring.feedback.add_many(ids, labels)
        automation.run_automation(workspace)  # the canary is compared and decided
    final = automation.list_canaries(workspace, deployment, limit=1)
    champion = workspace.registry.resolve(f"models:/{model}@champion")
    return LoopResult(
        retrained=f"models:/{model}/{final[0].challenger_version}" if final else None,
        gate=gates[0].summary if gates else "no gate ran",
        canary=str(final[0].status) if final else "none",
        champion=champion.uri,
    )
