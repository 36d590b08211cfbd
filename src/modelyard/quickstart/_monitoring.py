"""The quickstart's monitoring: later days, shifted, replayed through the deployment.

Training stores the champion's drift reference (its holdout inputs and predictions) and
two alert rules. Then transactions of the days after the data ends, in which amounts grow,
the channel mix moves online and fraud migrates to small card-testing payments, go through
the ``fraud`` deployment in batches, as a server would receive them; their labels come back
afterwards (as chargebacks do, days later) through the feedback API. Evaluating the rules
finds the inputs drifted and the model's F1 fallen; both alerts fire, and a report with
charts is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import f1_score

from modelyard._workspace import Workspace
from modelyard.monitoring import PREDICTION, Alert, AlertRule, PerformanceWindow
from modelyard.quickstart._data import LABEL, generate_transactions
from modelyard.quickstart._features import MODEL_INPUTS, REQUEST_FIELDS
from modelyard.registry import ModelVersion
from modelyard.serving import InputBatch

__all__ = [
    "MonitoringResult",
    "add_rules",
    "later_days",
    "replay",
    "request_columns",
    "score_through",
    "set_reference",
]

_BATCH = 250
_REPLAY_DAYS = 6


@dataclass(frozen=True, slots=True)
class MonitoringResult:
    predictions: int
    labels: int
    drifted_columns: tuple[str, ...]
    performance: PerformanceWindow | None
    alerts: list[Alert]
    report: Path


def set_reference(
    workspace: Workspace, champion: ModelVersion, model: object, holdout: pd.DataFrame
) -> float:
    """Store the champion's drift reference (its holdout inputs and predictions); the
    holdout F1 it is held to."""
    frame = holdout[list(MODEL_INPUTS)].copy()
    predicted = np.asarray(model.predict(frame))  # type: ignore[attr-defined]
    frame[PREDICTION] = predicted
    workspace.monitoring.set_reference(champion.uri, frame)
    return float(f1_score(holdout[LABEL].to_numpy(), predicted))


def add_rules(workspace: Workspace, deployment: str, holdout_f1: float) -> list[AlertRule]:
    """A performance rule (F1 below 80% of the holdout's) and a drift rule (a third of
    the inputs drifted), each over the last day."""
    rules = [
        AlertRule(
            name=f"{deployment}-f1-drop",
            deployment=deployment,
            metric="f1",
            comparison="<",
            threshold=round(0.8 * holdout_f1, 3),
            window_s=86_400,
            min_samples=200,
        ),
        AlertRule(
            name=f"{deployment}-input-drift",
            deployment=deployment,
            metric="drift_share",
            comparison=">=",
            threshold=0.3,
            window_s=86_400,
            min_samples=200,
        ),
    ]
    for rule in rules:
        workspace.monitoring.add_rule(rule, replace=True)
    return rules


def later_days(start: dt.datetime, rows: int, seed: int, *, days: int = _REPLAY_DAYS) -> pa.Table:
    """Transactions of ``days`` days from ``start``, with the world shifted."""
    return generate_transactions(rows, seed=seed, start=start, days=days, shift=1.0)


def request_columns(transactions: pa.Table) -> dict[str, np.ndarray]:
    """What a caller sends the deployment: the keys and the transaction."""
    stamp = transactions.column("event_timestamp")
    return {
        "user_id": transactions.column("user_id").to_numpy(),
        "merchant_id": transactions.column("merchant_id").to_numpy(),
        "hour": pc.hour(stamp).cast(pa.int64()).to_numpy(),
        **{
            name: transactions.column(name).to_numpy(zero_copy_only=False)
            for name in REQUEST_FIELDS
            if name != "hour"
        },
    }


async def score_through(workspace: Workspace, deployment: str, transactions: pa.Table) -> list[str]:
    """The transactions through the deployment in batches, in this process as a server
    runs it; the prediction ids, in order. The log is rolled to Parquet at the end."""
    from modelyard.serving._runtime import ServingState

    columns = request_columns(transactions)
    state = ServingState(workspace)
    await state.start()
    ids: list[str] = []
    try:
        runtime = state.deployment(deployment)
        for start in range(0, transactions.num_rows, _BATCH):
            part = {name: values[start : start + _BATCH] for name, values in columns.items()}
            size = len(part["user_id"])
            result = await runtime.predict(InputBatch(n_rows=size, columns=part))
            ids += result.prediction_ids
    finally:
        await state.stop()
    return ids


def replay(
    workspace: Workspace,
    deployment: str,
    transactions: pa.Table,
    ids: list[str],
) -> MonitoringResult:
    """Send the labels of the replayed predictions, evaluate the rules, write a report."""
    from modelyard.dashboard import write_report

    labels = transactions.column(LABEL).cast(pa.int64()).to_pylist()
    workspace.monitoring.feedback.add_many(ids, labels)
    alerts = workspace.monitoring.evaluate_alerts()
    drift = workspace.monitoring.drift(deployment, window="1d")
    windows = workspace.monitoring.performance(deployment, window="1d")
    overall = [w for w in windows if w.version is None]
    html, _ = write_report(workspace, deployment, window="1d")
    return MonitoringResult(
        predictions=len(ids),
        labels=len(labels),
        drifted_columns=drift.drifted_columns,
        performance=overall[0] if overall else None,
        alerts=alerts,
        report=html,
    )
