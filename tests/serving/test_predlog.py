"""The prediction log: one WAL line per request, Parquet segments, recovery after a kill."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from modelyard import Workspace
from modelyard.deployments import DeploymentSpec
from modelyard.serving._predlog import LogEntry, PredictionLog, encode_record
from modelyard.serving._types import InputBatch


def read(root: Path) -> pa.Table:
    return ds.dataset(root, format="parquet", partitioning="hive").to_table()


def entry(
    n: int = 3,
    *,
    deployment: str = "fraud",
    version: int = 1,
    request: str = "r1",
    tensor: bool = False,
    shadow: bool = False,
) -> LogEntry:
    if tensor:
        batch = InputBatch(n_rows=n, tensor=np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2))
    else:
        batch = InputBatch(
            n_rows=n,
            columns={
                "amount": np.linspace(0, 1, n),
                "count": np.arange(n, dtype=np.int64),
                "city": np.array(["Oslo"] * n, dtype=object),
            },
        )
    return LogEntry(
        request_id=request,
        ids=[f"{request}-{i}" for i in range(n)],
        timestamp_ms=1_700_000_000_000,
        deployment=deployment,
        model="m",
        version=version,
        target="champion",
        shadow=shadow,
        latency_ms=1.25,
        server_id="srv",
        batch=batch,
        outputs=np.arange(n, dtype=np.float64) / 10,
        cache_hits=np.array([i == 0 for i in range(n)]) if not tensor else None,
    )


def started(root: Path, **options: Any) -> PredictionLog:
    log = PredictionLog(root, "srv", **options)
    log.start()
    return log


def wal_files(root: Path) -> list[Path]:
    return sorted((root / "wal").glob("*.jsonl"))


def test_each_request_is_one_line_and_each_prediction_one_row(tmp_path: Path) -> None:
    log = started(tmp_path)
    for i in range(4):
        log.append(encode_record(entry(3, request=f"r{i}")), rows=3)
    (wal,) = wal_files(tmp_path)
    assert wal.read_bytes().count(b"\n") == 4
    log.stop()
    assert wal_files(tmp_path) == []
    table = read(tmp_path)
    assert table.num_rows == 12
    frame = table.to_pandas().sort_values("prediction_id")
    assert frame["prediction_id"].tolist()[:3] == ["r0-0", "r0-1", "r0-2"]
    assert frame["input__count"].tolist()[:3] == [0, 1, 2]
    assert frame["input__city"].tolist()[0] == "Oslo"
    assert frame["output"].tolist()[:3] == [0.0, 0.1, 0.2]
    assert frame["cache_hit"].tolist()[:3] == [True, False, False]
    assert set(frame["deployment"]) == {"fraud"} and set(frame["date"]) == {"2023-11-14"}
    schema = table.schema
    assert schema.field("input__amount").type == pa.float64()
    assert schema.field("input__count").type == pa.int64()
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("version").type == pa.int64() and schema.field("shadow").type == pa.bool_()


def test_tensor_inputs_become_a_list_column(tmp_path: Path) -> None:
    log = started(tmp_path)
    log.append(encode_record(entry(2, tensor=True)), rows=2)
    log.stop()
    table = read(tmp_path)
    assert table["input__tensor"].to_pylist() == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    assert table["cache_hit"].to_pylist() == [False, False]


def test_deployments_are_partitions_and_shadows_are_flagged(tmp_path: Path) -> None:
    log = started(tmp_path, fsync=True)
    log.append(encode_record(entry(2, deployment="a")), rows=2)
    log.append(encode_record(entry(2, deployment="b", version=2, shadow=True)), rows=2)
    log.stop()
    frame = read(tmp_path).to_pandas()
    assert sorted(zip(frame["deployment"], frame["shadow"], strict=True)) == [
        ("a", False),
        ("a", False),
        ("b", True),
        ("b", True),
    ]
    assert (tmp_path / "deployment=a").is_dir() and (tmp_path / "deployment=b").is_dir()


def test_versions_whose_inputs_changed_type_are_kept_apart(tmp_path: Path) -> None:
    log = started(tmp_path)
    log.append(encode_record(entry(2, version=1)), rows=2)
    changed = entry(2, version=2)
    assert changed.batch.columns is not None
    columns = dict(changed.batch.columns, count=np.array(["x", "y"], dtype=object))
    changed = dataclasses.replace(changed, batch=InputBatch(n_rows=2, columns=columns))
    log.append(encode_record(changed), rows=2)
    log.stop()
    files = sorted(p.name for p in tmp_path.rglob("*.parquet"))
    assert len(files) == 2 and files[0].endswith("-v1.parquet")


def test_nan_inputs_are_logged_as_nulls(tmp_path: Path) -> None:
    log = started(tmp_path)
    record = entry(2)
    assert record.batch.columns is not None
    record.batch.columns["amount"][:] = [np.nan, np.inf]
    log.append(encode_record(record), rows=2)
    log.stop()
    assert read(tmp_path)["input__amount"].to_pylist() == [None, None]


def wait_for_segments(root: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(list(root.rglob("*.parquet"))) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list(root.rglob("*.parquet"))) == count


def test_a_wal_rolls_when_it_reaches_segment_rows(tmp_path: Path) -> None:
    log = started(tmp_path, segment_rows=5)
    log.append(encode_record(entry(3, request="a")), rows=3)
    log.append(encode_record(entry(3, request="b")), rows=3)
    wait_for_segments(tmp_path, 1)  # rolled without stop or flush
    log.append(encode_record(entry(3, request="c")), rows=3)
    time.sleep(0.3)
    assert len(list(tmp_path.rglob("*.parquet"))) == 1  # 3 rows: not yet
    log.append(encode_record(entry(3, request="d")), rows=3)
    wait_for_segments(tmp_path, 2)
    log.stop()
    assert read(tmp_path).num_rows == 12


def test_a_wal_rolls_when_it_reaches_segment_seconds(tmp_path: Path) -> None:
    log = started(tmp_path, segment_seconds=0.2)
    log.append(encode_record(entry(2)), rows=2)
    wait_for_segments(tmp_path, 1)
    assert read(tmp_path).num_rows == 2
    log.stop()
    assert read(tmp_path).num_rows == 2


def test_a_torn_last_line_is_skipped_on_recovery(tmp_path: Path) -> None:
    (tmp_path / "wal").mkdir()
    good = encode_record(entry(2, request="a")) + encode_record(entry(3, request="b"))
    torn = encode_record(entry(2, request="c"))[:-20]
    (tmp_path / "wal" / "_dead-123-000001.jsonl").write_bytes(good + torn)
    log = started(tmp_path)
    assert len(wal_files(tmp_path)) == 1  # only its own
    log.stop()
    assert sorted(read(tmp_path)["request_id"].to_pylist()) == ["a", "a", "b", "b", "b"]


def test_a_wal_held_by_a_live_process_is_left_alone(tmp_path: Path) -> None:
    alive = started(tmp_path)
    alive.append(encode_record(entry(2, request="alive")), rows=2)
    other = started(tmp_path)  # its recovery must not take the live WAL
    assert len(wal_files(tmp_path)) == 2
    other.stop()
    alive.append(encode_record(entry(1, request="later")), rows=1)
    alive.stop()
    assert Counter(read(tmp_path)["request_id"].to_pylist()) == {"alive": 2, "later": 1}


def test_appending_to_a_stopped_log_is_refused(tmp_path: Path) -> None:
    log = started(tmp_path)
    log.stop()
    with pytest.raises(RuntimeError, match="not started"):
        log.append(encode_record(entry(1)), rows=1)


_VICTIM = textwrap.dedent(
    """
    import asyncio, os, sys, types
    import modelyard
    # the runtime alone: the HTTP app the package exports would only add seconds
    serving = types.ModuleType("modelyard.serving")
    serving.__path__ = [os.path.join(os.path.dirname(modelyard.__file__), "serving")]
    sys.modules["modelyard.serving"] = serving
    import numpy as np
    from modelyard import Workspace
    from modelyard.serving._runtime import ServingState
    from modelyard.serving._types import InputBatch

    async def main():
        state = ServingState(Workspace.open(sys.argv[1]), server_id="victim")
        await state.start()
        runtime = state.deployment("d")
        i = 0
        while True:
            n = 1 + i % 3
            batch = InputBatch(n_rows=n, columns={"x": np.arange(n, dtype=np.float64)})
            result = await runtime.predict(batch)
            os.write(1, ("\\n".join(result.prediction_ids) + "\\n").encode())
            i += 1

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_every_acknowledged_prediction_survives_a_kill(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    ws.registry.register(
        "m", lambda X: X["x"].to_numpy() * 2.0, input_example=pd.DataFrame({"x": [1.0]})
    )
    ws.registry.set_alias("m", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    proc = subprocess.Popen(
        [sys.executable, "-c", _VICTIM, str(ws.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    printed: list[str] = []
    try:
        while len(printed) < 400:
            line = proc.stdout.readline()
            assert line, f"the child died: {proc.stderr.read().decode()[-2000:]}"
            printed.append(line.decode().strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    printed += [line.strip() for line in proc.stdout.read().decode().splitlines()]
    proc.stdout.close()
    proc.stderr.close()
    root = ws.settings.resolved_predictions_dir()
    assert wal_files(root), "the killed process left its WAL"
    PredictionLog(root, "recovery").recover()
    assert wal_files(root) == []
    logged = Counter(read(root)["prediction_id"].to_pylist())
    assert all(logged[pid] == 1 for pid in printed)
    assert max(logged.values()) == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_rolling_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    log = started(tmp_path)
    log.append(encode_record(entry(2)), rows=2)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        log.flush()
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
        log.stop()
    assert read(tmp_path).num_rows == 2
