"""Heavy jobs on a Ray ``compute``: a worker sends them to the cluster, results land in the
same stores (PostgreSQL here), cancels reach the task; batch_predict jobs score on Ray Data."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from sklearn.linear_model import LogisticRegression

from automation import recipekit
from compute import batchkit
from featurekit import redis_online_url
from modelyard import Workspace
from modelyard.compute._jobs_ray import check_shared_stores
from modelyard.config import load_settings
from modelyard.errors import ConfigError
from modelyard.jobs import Job, JobStatus, Worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore:The minimum number of concurrent actors:UserWarning"),
]
KINDS = Path(__file__).with_name("jobkinds.py").resolve()


def _workspace(folder: Path, url: str, compute: str) -> Workspace:
    ws = Workspace(
        load_settings(
            folder,
            metadata_url=url,
            compute=compute,
            jobs={"kind_modules": [str(KINDS)], "poll_s": 0.05, "heartbeat_s": 0.5},
        )
    )
    ws.start()
    return ws


@pytest.fixture
def ray_ws(postgres_url: str, tmp_path: Path, ray_local: Any) -> Iterator[Workspace]:
    """A PostgreSQL workspace whose ``compute`` is the session's local Ray."""
    ws = _workspace(tmp_path, postgres_url, "ray-local")
    yield ws
    ws.close()


class Progress:
    """A worker observer that keeps the progress reports it is shown."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def job_started(self, job: Job) -> None:
        pass

    def job_progress(self, _job: Job, progress: dict[str, Any]) -> None:
        self.seen.append(dict(progress))

    def job_ended(self, job: Job, outcome: str) -> None:
        pass


def test_a_heavy_job_runs_as_a_ray_task_and_writes_to_the_same_stores(
    ray_ws: Workspace,
) -> None:
    job = ray_ws.jobs.enqueue("crunch", {"steps": 3, "pause": 0.4})
    observer = Progress()

    assert Worker(ray_ws.jobs, ray_ws, observer=observer).run(drain=True) == {"SUCCEEDED": 1}

    done = ray_ws.jobs.get(job.id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.result is not None and done.result["pid"] != os.getpid()  # a Ray worker ran it
    run = ray_ws.tracking.get_run(str(done.result["run_id"]))  # written there, read here
    assert run.params["pid"] == str(done.result["pid"])
    assert {"stage": "crunch", "done": 3, "total": 3} in observer.seen
    assert all(p["stage"] == "crunch" for p in observer.seen)


def test_a_heavy_job_that_raises_fails_with_its_own_error(ray_ws: Workspace) -> None:
    job = ray_ws.jobs.enqueue("crunch", {"steps": 1, "fail": True})

    Worker(ray_ws.jobs, ray_ws).run(drain=True)

    failed = ray_ws.jobs.get(job.id)
    assert failed.status == JobStatus.FAILED  # a ValidationError is not retried
    assert failed.error is not None
    assert failed.error["type"] == "ValidationError"
    assert failed.error["message"] == "crunch was asked to fail"


def test_cancelling_a_heavy_job_stops_its_ray_task(ray_ws: Workspace, tmp_path: Path) -> None:
    pid_file = tmp_path / "crunch.pid"
    job = ray_ws.jobs.enqueue("crunch", {"steps": 120, "pause": 0.5, "pid_file": str(pid_file)})
    worker = Worker(ray_ws.jobs, ray_ws, observer=Progress())
    thread = threading.Thread(target=worker.run, kwargs={"drain": True})
    thread.start()
    try:
        _wait_for(lambda: ray_ws.jobs.get(job.id).progress is not None, 120)
        ray_ws.jobs.cancel(job.id)
        thread.join(60)
        assert not thread.is_alive()
    finally:
        worker.stop(now=True)
        thread.join(10)

    assert ray_ws.jobs.get(job.id).status == JobStatus.CANCELLED
    task_pid = int(pid_file.read_text())
    _wait_for(lambda: not _alive(task_pid), 30)  # the task's process was ended


def test_a_batch_predict_job_scores_on_ray_data_like_a_local_job(
    postgres_url: str, tmp_path: Path, ray_local: Any
) -> None:
    ray_ws = _workspace(tmp_path, postgres_url, "ray-local")
    local_ws = _workspace(tmp_path, postgres_url, "local")
    try:
        train = pq.read_table(batchkit.write_inputs(tmp_path / "train", 1, 300, seed=0)[0])
        frame = train.to_pandas()[["amount", "age"]]
        model = LogisticRegression().fit(frame, (frame["amount"] > 50).astype(int))
        ray_ws.registry.register("scorer", model, input_example=frame.head(3))
        batchkit.write_inputs(tmp_path / "data", 3, 500)
        payload = {"model": "models:/scorer/1", "input": "data", "features": ["amount", "age"]}
        on_ray = ray_ws.jobs.enqueue("batch_predict", {**payload, "output": "ray.parquet"})
        observer = Progress()
        Worker(ray_ws.jobs, ray_ws, observer=observer).run(drain=True)
        assert observer.seen[-1] == {"stage": "predict", "done": 1500, "total": 1500}
        here = local_ws.jobs.enqueue("batch_predict", {**payload, "output": "local.parquet"})
        Worker(local_ws.jobs, local_ws).run(drain=True)

        for job, backend in ((on_ray, "ray"), (here, "local")):
            result = ray_ws.jobs.get(job.id).result
            assert result is not None and result["backend"] == backend and result["rows"] == 1500
    finally:
        ray_ws.close()
        local_ws.close()

    scored_on_ray = pq.read_table(tmp_path / "ray.parquet")
    scored_here = pq.read_table(tmp_path / "local.parquet")
    assert scored_on_ray.num_rows == scored_here.num_rows == 1500
    assert set(scored_on_ray.schema.names) == set(scored_here.schema.names)
    ray_rows = scored_on_ray.sort_by("customer")
    local_rows = scored_here.sort_by("customer")
    assert ray_rows["prediction"].equals(local_rows["prediction"])
    assert pa.compute.count_distinct(scored_on_ray["prediction_id"]).as_py() == 1500
    assert (scored_on_ray.schema.metadata or {}).get(b"modelyard")
    assert not list(tmp_path.glob("*.parts"))  # Ray Data's parts were streamed and removed
    assert not list(tmp_path.glob("*.tmp"))
    assert np.array_equal(ray_rows["model_version"].to_numpy(), np.ones(1500, dtype=np.int32))


TUNED_RECIPE = '''
from sklearn.linear_model import LogisticRegression

from modelyard.automation import TrainingData, recipe


@recipe("tuned", model="tuned", dataset="events", features=["user_stats:risk"], label="y",
        inputs=["x1", "risk"])
def tuned(data: TrainingData):
    """A logistic regression whose C is searched on walk-forward folds."""
    return data.tune(LogisticRegression(), {"C": [0.001, 1.0, 100.0]}, cv="walk-forward:3",
                     scoring="roc_auc")
'''


def test_a_tuning_job_runs_on_ray_against_postgres_and_redis(
    postgres_url: str, tmp_path: Path, ray_local: Any
) -> None:
    prefix = f"modelyard-test-{uuid.uuid4().hex[:8]}"
    ws = Workspace(
        load_settings(
            tmp_path,
            metadata_url=postgres_url,
            compute="ray-local",
            features={"online_url": redis_online_url(), "online_prefix": prefix},
            jobs={"poll_s": 0.05, "heartbeat_s": 0.5},
        )
    )
    ws.start()
    try:
        recipekit.prepare(ws, rows=600)
        (ws.path / "recipes" / "tuned.py").write_text(TUNED_RECIPE)
        online = ws.jobs.enqueue("materialize", {})
        training = ws.jobs.enqueue("train", {"recipe": "tuned"})

        assert Worker(ws.jobs, ws).run(drain=True) == {"SUCCEEDED": 2}

        assert ws.jobs.get(online.id).status == JobStatus.SUCCEEDED
        result = ws.jobs.get(training.id).result
        assert result is not None and (result["model"], result["version"]) == ("tuned", 1)
        trained = ws.tracking.get_run(str(result["run_id"]))
        assert trained.params["best.C"] in {"0.001", "1.0", "100.0"}
        assert "cv_score" in trained.metrics
        runs = ws.tracking.search_runs(experiments=["tuned"], max_results=20).runs
        (search,) = [r for r in runs if r.parent_run_id == trained.id]
        assert search.params["backend"] == "ray-tune" and search.params["folds"] == "3"
        trials = [r for r in runs if r.parent_run_id == search.id]
        assert len(trials) == 3
        assert all(len(ws.tracking.metric_history(t.id, "fold_score")) == 3 for t in trials)
        # The model serves on the features the worker's materialize job put in Redis.
        users = [0, 1, 2]
        frame = ws.features.online_frame(["user_stats:risk"], {"user_id": users})
        rows = pd.DataFrame({"x1": [0.0, 0.5, -0.5], "risk": frame.values["risk"]})
        assert rows["risk"].tolist() == pytest.approx(list(recipekit._risk()[users]))
        predicted = ws.registry.load("models:/tuned/1").predict(rows)
        assert set(np.unique(predicted)) <= {0, 1}
    finally:
        ws.close()
        client = redis.Redis.from_url(redis_online_url())
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_a_remote_cluster_needs_stores_every_machine_reaches(
    tmp_path: Path, postgres_url: str
) -> None:
    remote = "ray://head:10001"
    with pytest.raises(ConfigError, match=r"metadata_url is SQLite.*artifacts_url is the state"):
        check_shared_stores(load_settings(tmp_path, compute=remote))
    with pytest.raises(ConfigError, match="artifacts_url is the state folder"):
        check_shared_stores(load_settings(tmp_path, compute=remote, metadata_url=postgres_url))
    shared = load_settings(
        tmp_path, compute=remote, metadata_url=postgres_url, artifacts_url="s3://bucket/ws"
    )
    check_shared_stores(shared)  # no error


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
