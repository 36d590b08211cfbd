"""Batch scoring (``predict_batch``, ``modelyard predict-batch``) here and on a local Ray.

That Ray Data scores like this process is shown through the ``batch_predict`` job
(``test_jobs_ray.py``): each Ray Data run costs 10-30 s of start-up here."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from clikit import modelyard
from compute import batchkit
from modelyard import Workspace
from modelyard.compute import RayCompute, predict_batch
from modelyard.errors import ConflictError, SourceNotFoundError, ValidationError

# Ray warns about its own deprecated settings when Ray Data reads them, and that the few
# small blocks of test data cannot keep the whole actor pool busy.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore:The minimum number of concurrent actors:UserWarning"),
]


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    """Model ``fraud`` (version 1, alias champion) and 3 input files of 700 rows."""
    ws = sqlite_workspace
    train = pq.read_table(batchkit.write_inputs(ws.path / "train", 1, 300, seed=0)[0])
    frame = train.to_pandas()[["amount", "age"]]
    model = LogisticRegression().fit(frame, (frame["amount"] > 50).astype(int))
    ws.registry.register("fraud", model, input_example=frame.head(3))
    ws.registry.set_alias("fraud", "champion", 1)
    batchkit.write_inputs(ws.path / "data", 3, 700)
    return ws


def _read(folder: Path) -> pa.Table:
    return pq.read_table(sorted(folder.glob("*.parquet"))).sort_by("customer")


def test_local_scoring_writes_ids_model_and_version_with_every_row(ws: Workspace) -> None:
    seen: list[tuple[int, int]] = []

    result = predict_batch(
        ws,
        "models:/fraud@champion",
        "data/*.parquet",
        "out",
        batch_rows=256,
        keep=["customer"],
        features=["amount", "age"],
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (result.rows, result.version, result.backend) == (2100, 1, "local")
    out = _read(ws.path / "out")
    assert out.column_names == ["customer", "prediction_id", "model", "model_version", "prediction"]
    assert out["customer"].to_pylist() == list(range(2100))
    assert len(set(out["prediction_id"].to_pylist())) == 2100
    assert set(out["model_version"].to_pylist()) == {1}
    assert seen[-1] == (2100, 2100) and len(seen) >= 9  # one report per batch
    assert [p.name for p in (ws.path / "out").iterdir()] == ["part-00000.parquet"]


def test_bad_requests_are_clear_errors_and_leave_no_output(ws: Workspace) -> None:
    with pytest.raises(SourceNotFoundError, match="matches no Parquet file"):
        predict_batch(ws, "models:/fraud@champion", "nothing/*.parquet", "out")
    with pytest.raises(ValidationError, match="no column"):
        predict_batch(ws, "models:/fraud/1", "data", "out", keep=["nope"])
    with pytest.raises(ValidationError, match="model"):
        predict_batch(ws, "models:/fraud@@", "data", "out")
    predict_batch(ws, "models:/fraud/1", "data", "out")
    with pytest.raises(ConflictError, match="--overwrite"):
        predict_batch(ws, "models:/fraud/1", "data", "out")
    assert predict_batch(ws, "models:/fraud/1", "data", "out", overwrite=True).rows == 2100
    assert len(list((ws.path / "out").iterdir())) == 1


def test_cli_scores_locally_and_errors_in_one_line(ws: Workspace) -> None:
    root = str(ws.path)
    done = modelyard(
        *("-w", root, "predict-batch", "models:/fraud@champion", "-i", "data/*.parquet"),
        *("-o", "out", "--backend", "local", "--batch-rows", "500", "--keep", "customer"),
    )
    assert done.returncode == 0, done.stderr
    assert "2100 rows scored by models:/fraud/1" in done.stdout
    assert _read(ws.path / "out").num_rows == 2100
    bad = modelyard("-w", root, "predict-batch", "models:/fraud@nope", "-i", "data", "-o", "x")
    assert bad.returncode == 1 and bad.stderr.startswith("Error:"), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_killed_ray_worker_still_scores_every_row_once(
    ws: Workspace, ray_local: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    # The test module is not importable in Ray's workers: the model travels by value, to
    # the registry (cloudpickle) and to the workers (Ray's own copy of cloudpickle).
    picklers = [cloudpickle, ray_local.cloudpickle]
    for pickler in picklers:
        pickler.register_pickle_by_value(batchkit)
    request.addfinalizer(lambda: [p.unregister_pickle_by_value(batchkit) for p in picklers])
    ws.registry.register("slow", batchkit.SlowDoubler(pids, pause_s=0.05))
    killed: list[int] = []
    done = threading.Event()

    def kill_first_worker() -> None:  # a loaded machine can take minutes to start scoring
        while not done.is_set() and not killed:
            found = [int(p.name) for p in pids.iterdir()]
            if found:
                os.kill(found[0], signal.SIGKILL)
                killed.append(found[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    try:
        result = predict_batch(
            ws, "models:/slow/1", "data", "out", compute=RayCompute(), batch_rows=100
        )
    finally:
        done.set()
        killer.join()

    assert killed, "no worker was seen scoring"
    assert len(list(pids.iterdir())) >= 2  # the killed worker was replaced
    out = _read(ws.path / "out")
    assert result.rows == out.num_rows == 2100
    assert out["customer"].to_pylist() == list(range(2100))  # every row, once
    np.testing.assert_array_equal(out["prediction"].to_numpy(), out["amount"].to_numpy() * 2)


def test_ray_compute_maps_in_order(ray_local: Any) -> None:
    compute = RayCompute()
    compute.start()
    assert compute.map(abs, [-3, 1, -2]) == [3, 1, 2]
    assert compute.workers == 2
    compute.close()  # a Ray it did not start stays up
    assert ray_local.is_initialized()
