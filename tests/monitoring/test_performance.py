"""Performance from delayed labels, service health and drift of a served deployment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

from modelyard import Workspace
from modelyard._ids import now_ms, time_id
from modelyard.errors import DeploymentNotFoundError, ValidationError
from modelyard.monitoring import PREDICTION
from modelyard.serving import InputBatch
from modelyard.serving._predlog import LogEntry, PredictionLog, encode_record
from monitorkit import classifier, deploy, predict, regressor

XS = [-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0] * 5  # 40 rows: 20 of each class


def test_classifier_metrics_match_scikit_learn_with_intervals(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    (result,) = predict(workspace, "m", XS)
    truth = [int(x > 0) for x in XS]
    truth[:6] = [1 - t for t in truth[:6]]  # six mistakes
    workspace.monitoring.feedback.add_many(result.prediction_ids, truth)

    (per_version, overall) = workspace.monitoring.performance("m", window="1h")

    assert (per_version.version, overall.version) == (1, None)
    assert overall.task == "classification" and overall.samples == 40
    accuracy = overall.metrics["accuracy"]
    assert accuracy.value == pytest.approx(accuracy_score(truth, result.outputs))
    assert accuracy.low is not None and accuracy.high is not None
    assert accuracy.low < accuracy.value < accuracy.high
    assert overall.metrics["f1"].value == pytest.approx(f1_score(truth, result.outputs))


def test_each_version_is_scored_apart(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    (first,) = predict(workspace, "m", [1.0, 2.0])
    deploy(workspace, classifier())  # version 2 becomes the champion
    (second,) = predict(workspace, "m", [1.0, 2.0])
    workspace.monitoring.feedback.add_many(first.prediction_ids, [1, 1])
    workspace.monitoring.feedback.add_many(second.prediction_ids, [0, 1])

    windows = workspace.monitoring.performance("m", window="1h")

    accuracy = {w.version: w.metrics["accuracy"].value for w in windows}
    assert accuracy == {1: 1.0, 2: 0.5, None: 0.75}


def test_regression_metrics(workspace: Workspace) -> None:
    deploy(workspace, regressor(), name="r")
    xs = np.linspace(-2, 2, 30)
    (result,) = predict(workspace, "r", xs.tolist())
    truth = (2 * xs + 1 + np.where(np.arange(30) % 2, 0.5, -0.5)).tolist()
    workspace.monitoring.feedback.add_many(result.prediction_ids, truth)

    overall = workspace.monitoring.performance("r", window="1h")[-1]

    assert overall.task == "regression"
    assert overall.metrics["mae"].value == pytest.approx(mean_absolute_error(truth, result.outputs))
    assert overall.metrics["rmse"].value == pytest.approx(0.5, abs=1e-6)


def test_health_counts_requests_latency_and_errors(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    predict(workspace, "m", [1.0], [2.0, 3.0], [4.0])
    minute = (pd.Timestamp.now(tz="UTC").value // 1_000_000) // 60_000 * 60_000
    workspace.monitoring.record_errors("srv", {("m", "champion", "validation_error", minute): 1})

    (window,) = workspace.monitoring.health("m", window="1h")

    assert (window.requests, window.rows, window.errors) == (3, 4, 1)
    assert window.error_rate == pytest.approx(0.25)
    assert window.latency_p50_ms is not None and window.latency_p99_ms is not None


def test_unknown_deployments_and_bad_windows_are_clear(workspace: Workspace) -> None:
    with pytest.raises(DeploymentNotFoundError):
        workspace.monitoring.performance("nope")
    deploy(workspace, classifier())
    with pytest.raises(ValidationError, match="duration"):
        workspace.monitoring.health("m", window="soon")


def test_drift_of_logged_inputs_against_the_stored_reference(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    reference[PREDICTION] = (reference["x"] > 0).astype(int)
    workspace.monitoring.set_reference("models:/m/1", reference)
    predict(workspace, "m", rng.normal(0, 1, 500).tolist())

    same = workspace.monitoring.drift("m", window="1h")
    predict(workspace, "m", rng.normal(3, 1, 2000).tolist())
    shifted = workspace.monitoring.drift("m", window="1h")

    assert same.drifted_columns == ()
    assert set(shifted.drifted_columns) == {"x", PREDICTION}
    assert shifted.current_rows == 2500


def test_labels_for_predictions_made_days_ago_join_in_their_window(
    workspace: Workspace, tmp_path: Path
) -> None:
    deploy(workspace, classifier())
    days_ago = now_ms() - 3 * 86_400_000
    root = workspace.settings.resolved_predictions_dir()
    log = PredictionLog(root, "old-server", segment_rows=1000, segment_seconds=60)
    log.start()
    request = time_id(days_ago)
    xs = np.array([-2.0, -1.0, 1.0, 2.0, 3.0])
    outputs = (xs > 0).astype(np.int64)
    ids = [f"{request}-{i}" for i in range(len(xs))]
    entry = LogEntry(
        request_id=request, ids=ids, timestamp_ms=days_ago, deployment="m", model="m",
        version=1, target="champion", shadow=False, latency_ms=1.0, server_id="old-server",
        batch=InputBatch(n_rows=5, columns={"x": xs}), outputs=outputs,
    )  # fmt: skip
    log.append(encode_record(entry), 5)
    log.stop()  # rolled into the partition of three days ago
    truth = [0, 1, 1, 1, 0]  # the labels arrive now, three days late

    workspace.monitoring.feedback.add_many(ids, truth)
    week = workspace.monitoring.performance("m", window="7d")
    today = workspace.monitoring.performance("m", window="1d")

    assert week[-1].samples == 5
    assert week[-1].metrics["accuracy"].value == pytest.approx(accuracy_score(truth, outputs))
    assert today == []
