"""The built-in job kinds (batch_predict, pipeline, materialize) and schedule ticks."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

from modelyard import Workspace
from modelyard.jobs import JobContext, JobStatus, Worker, enqueue_due


def features(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "customer": pa.array(np.arange(rows)),
            "amount": rng.normal(50, 20, rows),
            "age": rng.integers(18, 90, rows).astype(np.float64),
        }
    )


def model_and_input(ws: Workspace) -> tuple[LogisticRegression, Path]:
    """A registered classifier (version 2: version 1 is another model) and a Parquet file
    of 2,500 rows in row groups of 1,000."""
    train = features(200).to_pandas()[["amount", "age"]]
    model = LogisticRegression().fit(train, (train["amount"] > 50).astype(int))
    ws.registry.register("fraud", LogisticRegression().fit(train, train["age"] > 40))
    ws.registry.register("fraud", model, input_example=train.head(3))
    ws.registry.set_alias("fraud", "champion", 2)
    path = ws.path / "in.parquet"
    pq.write_table(features(2500, seed=1), path, row_group_size=1000)
    return model, path


def test_batch_predict_streams_parquet_to_parquet_with_ids_and_version(ws: Workspace) -> None:
    model, source = model_and_input(ws)
    payload = {
        "model": "models:/fraud@champion",
        "input": "in.parquet",
        "output": "out/predictions.parquet",
        "batch_rows": 700,
        "keep": ["customer"],
    }
    (ws.path / "out").mkdir()
    job = ws.jobs.enqueue("batch_predict", payload)

    Worker(ws.jobs, ws).run(drain=True)

    done = ws.jobs.get(job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result is not None
    assert (done.result["rows"], done.result["version"]) == (2500, 2)
    out = pq.read_table(ws.path / "out" / "predictions.parquet")
    assert out.column_names == ["customer", "prediction_id", "model", "model_version", "prediction"]
    expected = model.predict(pq.read_table(source).to_pandas()[["amount", "age"]])
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected)
    assert out["customer"].to_pylist() == list(range(2500))
    assert out["prediction_id"][1234].as_py() == f"{job.id}-1234"
    assert len(set(out["prediction_id"].to_pylist())) == 2500
    assert set(out["model_version"].to_pylist()) == {2} and set(out["model"].to_pylist()) == {
        "fraud"
    }
    assert [p.name for p in (ws.path / "out").iterdir()] == ["predictions.parquet"]


def test_a_retried_batch_predict_returns_the_output_it_already_wrote(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    model_and_input(ws)
    payload = {  # version 1 has no signature: it reads the columns named by `features`
        "model": "models:/fraud/1",
        "input": "in.parquet",
        "output": "p.parquet",
        "features": ["amount", "age"],
    }
    job = ws.jobs.enqueue("batch_predict", payload)
    (claimed,) = ws.jobs.claim("w")
    kind = ws.jobs.kinds.get("batch_predict")
    first = kind.run(JobContext(claimed, ws), claimed.payload)
    written = (ws.path / "p.parquet").stat().st_mtime_ns
    ws.registry.register("fraud", LogisticRegression().fit([[0, 0], [1, 1]], [0, 1]))

    again = kind.run(JobContext(claimed, ws), claimed.payload)  # as a retry would

    assert again == first and first["rows"] == 2500 and first["job_id"] == job.id
    assert (ws.path / "p.parquet").stat().st_mtime_ns == written


def test_batch_predict_refuses_to_replace_another_jobs_output(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    model_and_input(ws)
    (ws.path / "taken.parquet").write_bytes(b"someone else's")
    job = ws.jobs.enqueue(
        "batch_predict",
        {"model": "models:/fraud/2", "input": "in.parquet", "output": "taken.parquet"},
    )

    Worker(ws.jobs, ws).run(drain=True)

    failed = ws.jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.error is not None
    assert "taken.parquet exists" in failed.error["message"]
    assert (ws.path / "taken.parquet").read_bytes() == b"someone else's"


def test_batch_predict_with_a_missing_column_fails_without_output(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    model_and_input(ws)
    payload = {"model": "models:/fraud/2", "input": "in.parquet", "output": "o.parquet"}
    job = ws.jobs.enqueue("batch_predict", {**payload, "keep": ["nope"]})

    Worker(ws.jobs, ws).run(drain=True)

    failed = ws.jobs.get(job.id)
    assert failed.status == JobStatus.FAILED and failed.error is not None
    assert "has no column(s) nope" in failed.error["message"]
    assert not (ws.path / "o.parquet").exists()


PIPELINE = """
from modelyard.data import Pipeline, csv_source

tx = Pipeline("tx", schedule="*/15 * * * *")
tx.source("raw", csv_source("raw/*.csv", columns={"id": "BIGINT", "amount": "DOUBLE"}))
tx.load("transactions", "raw")
"""


def test_pipeline_and_materialize_jobs_run_and_a_second_pipeline_run_is_skipped(
    sqlite_ws: Workspace,
) -> None:
    ws = sqlite_ws
    (ws.path / "pipelines").mkdir()
    (ws.path / "pipelines" / "tx.py").write_text(PIPELINE)
    (ws.path / "raw").mkdir()
    (ws.path / "raw" / "a.csv").write_text("id,amount\n1,2.5\n2,3.5\n")
    first = ws.jobs.enqueue("pipeline", {"pipeline": "tx"})
    second = ws.jobs.enqueue("pipeline", {"pipeline": "tx"}, priority=-1)
    views = ws.jobs.enqueue("materialize", {}, priority=-2)

    Worker(ws.jobs, ws).run(drain=True)

    results = [ws.jobs.get(j.id).result or {} for j in (first, second, views)]
    assert [r.get("status") for r in results[:2]] == ["SUCCEEDED", "SKIPPED"]
    assert ws.pipelines.get_run(results[0]["run_id"]).outputs[0]["rows_added"] == 2
    assert results[2] == {"views": []}


def test_a_schedule_tick_is_enqueued_once_however_many_workers_look(ws: Workspace) -> None:
    start = dt.datetime(2030, 1, 1, 10, 7, tzinfo=dt.UTC)
    ms = [round((start + dt.timedelta(minutes=m)).timestamp() * 1000) for m in (0, 8, 9, 31)]
    schedules = {"tx": "*/15 * * * *", "hourly": "1h"}

    assert enqueue_due(ws.jobs, schedules, ms[0]) == []  # the first look starts counting
    found: list[list[str]] = []
    threads = [
        threading.Thread(
            target=lambda: found.append([j.id for j in enqueue_due(ws.jobs, schedules, ms[1])])
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert enqueue_due(ws.jobs, schedules, ms[2]) == []  # 10:15 is done; 10:30 is not due
    late = enqueue_due(ws.jobs, schedules, ms[3])  # 10:30 is due, 10:45 not yet

    jobs = ws.jobs.list(kind="pipeline")
    keys = sorted(j.idempotency_key or "" for j in jobs)
    assert keys == [
        "schedule:tx:2030-01-01T10:15:00.000+00:00",
        "schedule:tx:2030-01-01T10:30:00.000+00:00",
    ]
    assert {tuple(ids) for ids in found if ids} == {(jobs[-1].id,)}
    assert [j.payload for j in late] == [
        {
            "pipeline": "tx",
            "logical_date": None,
            "full_refresh": False,
            "scheduled_for": "2030-01-01T10:30:00.000+00:00",
        }
    ]


def test_the_alert_rules_are_evaluated_on_a_schedule_by_a_job(sqlite_ws: Workspace) -> None:
    from modelyard.monitoring import AlertRule
    from monitorkit import classifier, deploy, predict

    ws = sqlite_ws
    deploy(ws, classifier())
    predict(ws, "m", [1.0, 2.0])
    ws.monitoring.add_rule(
        AlertRule("traffic", "m", "throughput_rps", ">=", 0.0, window_s=3600, min_samples=1)
    )
    start = round(dt.datetime.now(dt.UTC).timestamp() * 1000)
    schedules = {"kind:evaluate_alerts": "1m"}
    assert enqueue_due(ws.jobs, schedules, start) == []  # starts counting
    (job,) = enqueue_due(ws.jobs, schedules, start + 61_000)

    Worker(ws.jobs, ws).run(drain=True)

    done = ws.jobs.get(job.id)
    assert (done.kind, done.status) == ("evaluate_alerts", JobStatus.SUCCEEDED)
    assert (done.result or {})["changed"][0]["rule"] == "traffic"
    assert [a.rule for a in ws.monitoring.alerts.list(status="open")] == ["traffic"]
