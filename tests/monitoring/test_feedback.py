"""Labels for logged predictions: stored once, checked against the log, all or nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard import Workspace
from modelyard.errors import LabelConflictError, PredictionNotFoundError, ValidationError
from modelyard.serving import InputBatch
from modelyard.serving._runtime import ServingState
from monitorkit import classifier, deploy, predict, regressor


@pytest.fixture
def ids(workspace: Workspace) -> list[str]:
    deploy(workspace, classifier())
    (result,) = predict(workspace, "m", [-2.0, -1.0, 1.0, 2.0])
    assert result.outputs.tolist() == [0, 0, 1, 1]
    return result.prediction_ids


def stored(ws: Workspace) -> dict[str, object]:
    labels = ws.monitoring.feedback.labels("m")
    return dict(zip(labels["prediction_id"].to_pylist(), labels["label"].to_pylist(), strict=True))


def test_a_label_is_stored_once_and_a_repeat_is_idempotent(
    workspace: Workspace, ids: list[str]
) -> None:
    assert workspace.monitoring.add_feedback(ids[0], 0) is True
    assert workspace.monitoring.add_feedback(ids[0], 0) is False

    assert stored(workspace) == {ids[0]: "0"}


def test_another_label_for_a_labelled_prediction_is_a_conflict(
    workspace: Workspace, ids: list[str]
) -> None:
    workspace.monitoring.add_feedback(ids[0], 0)

    with pytest.raises(LabelConflictError, match="already has the label 0"):
        workspace.monitoring.add_feedback(ids[0], 1)
    assert stored(workspace) == {ids[0]: "0"}


@pytest.mark.parametrize("label", ["fraud", 0.5, None, [1]])
def test_a_label_of_the_wrong_type_is_refused(
    workspace: Workspace, ids: list[str], label: object
) -> None:
    with pytest.raises(ValidationError, match="does not fit"):
        workspace.monitoring.add_feedback(ids[0], label)
    assert stored(workspace) == {}


def test_an_unknown_prediction_id_is_not_found(workspace: Workspace, ids: list[str]) -> None:
    with pytest.raises(PredictionNotFoundError, match="no prediction logged"):
        workspace.monitoring.add_feedback(ids[0][:-2] + "-9", 1)
    with pytest.raises(PredictionNotFoundError):
        workspace.monitoring.add_feedback("0" * 32 + "-0", 1)


def test_a_bulk_import_from_parquet_is_all_or_nothing(
    workspace: Workspace, ids: list[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"prediction_id": ids, "label": ["0", "0", "1", "x"]}), bad)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"prediction_id": ids, "label": [0, 0, 1, 0]}), good)

    with pytest.raises(ValidationError):
        workspace.monitoring.import_feedback(bad)
    assert stored(workspace) == {}
    result = workspace.monitoring.import_feedback(good)

    assert (result.created, result.unchanged) == (4, 0)
    assert stored(workspace) == dict(zip(ids, ["0", "0", "1", "0"], strict=True))
    again = workspace.monitoring.import_feedback(good)
    assert (again.created, again.unchanged) == (0, 4)


def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest(
    workspace: Workspace, ids: list[str]
) -> None:
    workspace.monitoring.add_feedback(ids[0], 0)
    table = pa.table({"prediction_id": [*ids, "nope-0"], "label": [1, 0, 1, 1, 1]})

    result = workspace.monitoring.import_feedback(table, skip_invalid=True)

    assert result.created == 3
    assert result.conflicts == [ids[0]]
    assert result.unknown == ["nope-0"]


def test_a_number_labels_a_regression_prediction(workspace: Workspace) -> None:
    deploy(workspace, regressor(), name="r")
    (result,) = predict(workspace, "r", [1.0])

    assert workspace.monitoring.add_feedback(result.prediction_ids[0], 3) is True
    with pytest.raises(ValidationError, match="must be a number"):
        workspace.monitoring.add_feedback(result.prediction_ids[0], "3")


def test_a_prediction_not_yet_rolled_to_parquet_is_found_in_the_wal(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    deploy(ws, classifier())

    async def main() -> bool:
        state = ServingState(ws, server_id="live")
        await state.start()
        try:
            batch = InputBatch(n_rows=1, columns={"x": np.array([3.0])})
            result = await state.deployment("m").predict(batch)
            return await asyncio.to_thread(ws.monitoring.add_feedback, result.prediction_ids[0], 1)
        finally:
            await state.stop()

    assert asyncio.run(main()) is True
