"""A run killed half way leaves no version and no progress: the next run loads it all once."""

from __future__ import annotations

import multiprocessing
import signal

from modelyard import Workspace
from modelyard.data import RunStatus
from workers import run_pipeline

PIPELINE = """
import os
import signal
from pathlib import Path

import pyarrow as pa
from modelyard.data import Pipeline, csv_source

crashy = Pipeline("crashy")
crashy.source("raw", csv_source("raw/*.csv", columns={"id": "BIGINT"}))
batches = 0


@crashy.transform
def copied(raw: pa.RecordBatch) -> pa.RecordBatch:
    global batches
    batches += 1
    if batches == 3 and Path(__file__).with_name("die").exists():
        os.kill(os.getpid(), signal.SIGKILL)  # half way through the rows: a hard crash
    return raw


crashy.load("crashy", copied)
"""


def test_a_killed_run_leaves_no_version_and_the_next_loads_every_row_once(
    data_ws: Workspace, db_url: str
) -> None:
    raw = data_ws.path / "raw"
    raw.mkdir(parents=True)
    (raw / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(10_000)))
    folder = data_ws.pipelines.folder
    folder.mkdir(parents=True)
    (folder / "crashy.py").write_text(PIPELINE)
    (folder / "die").touch()

    child = multiprocessing.get_context("spawn").Process(
        target=run_pipeline, args=(str(data_ws.path), db_url, "crashy")
    )
    child.start()
    child.join(timeout=120)

    assert child.exitcode == -signal.SIGKILL
    assert data_ws.datasets.latest("crashy") is None
    (dead,) = data_ws.pipelines.runs("crashy")
    assert dead.status is RunStatus.RUNNING and dead.ended_at is None
    (folder / "die").unlink()
    run = data_ws.pipelines.run("crashy")
    ids = data_ws.datasets.read("crashy").column("id").to_pylist()
    assert sorted(ids) == list(range(10_000))
    assert run.outputs[0]["rows_added"] == 10_000
