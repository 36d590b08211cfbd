"""A worker in this process, on SQLite and PostgreSQL: outcomes, cancel, graceful stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.kit import lines
from modelyard import Workspace
from modelyard.jobs import Job, JobStatus, Worker


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def background(ws: Workspace) -> Iterator[Callable[..., Worker]]:
    """Starts workers on threads; stops them (without grace) at the end."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(**options: object) -> Worker:
        worker = Worker(ws.jobs, ws, **options)  # type: ignore[arg-type]
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop(now=True)
        thread.join(10)


def test_a_worker_runs_jobs_and_records_results_retries_and_failures(
    ws: Workspace, tmp_path: Path
) -> None:
    log = str(tmp_path / "log")
    ok = ws.jobs.enqueue("noop", {"n": 7})
    flaky = ws.jobs.enqueue("record", {"file": log, "fail_times": 2})
    doomed = ws.jobs.enqueue("record", {"file": log, "fail_times": 9}, max_attempts=2)
    rejected = ws.jobs.enqueue("reject", {})
    odd = ws.jobs.enqueue("unjsonable", {})

    outcomes = Worker(ws.jobs, ws, concurrency=3).run(drain=True)

    assert outcomes == {"SUCCEEDED": 2, "RETRYING": 3, "DEAD": 1, "FAILED": 2}
    odd_error = ws.jobs.get(odd.id).error or {}
    assert "returned a result that is not a JSON object" in odd_error["message"]
    assert ws.jobs.get(ok.id).result == {"n": 7}
    done = ws.jobs.get(flaky.id)
    assert (done.status, done.attempts, done.result) == (JobStatus.SUCCEEDED, 3, {"attempt": 3})
    dead = ws.jobs.get(doomed.id)
    assert dead.status == JobStatus.DEAD and dead.error is not None
    assert dead.error["message"] == "RuntimeError: failing attempt 2"
    assert "jobkit.py" in dead.error["traceback"]
    failed = ws.jobs.get(rejected.id)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert [w[0] for w in lines(Path(log)) if w[1] == flaky.id].count("done") == 1


def test_cancelling_a_running_job_stops_it(
    ws: Workspace, tmp_path: Path, background: Callable[..., Worker]
) -> None:
    job = ws.jobs.enqueue("record", {"file": str(tmp_path / "log"), "sleep": 30})
    background()
    wait_for(lambda: ws.jobs.get(job.id).status == JobStatus.RUNNING)

    requested = ws.jobs.cancel(job.id)
    wait_for(lambda: ws.jobs.get(job.id).status.finished)

    assert requested.status == JobStatus.RUNNING and requested.cancel_requested
    after = ws.jobs.get(job.id)
    assert after.status == JobStatus.CANCELLED and after.lease_owner is None
    assert after.error is not None and after.error["code"] == "job_cancelled"


def test_a_graceful_stop_lets_short_jobs_finish(ws: Workspace, tmp_path: Path) -> None:
    job = ws.jobs.enqueue("record", {"file": str(tmp_path / "log"), "sleep": 0.3})
    worker = Worker(ws.jobs, ws)
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: bool(worker.running()))

    worker.stop()
    thread.join(10)

    assert ws.jobs.get(job.id).status == JobStatus.SUCCEEDED


def test_a_hurried_stop_gives_running_jobs_back_to_the_queue(ws: Workspace, tmp_path: Path) -> None:
    job = ws.jobs.enqueue("record", {"file": str(tmp_path / "log"), "sleep": 30})
    ended: list[tuple[str, str]] = []

    class Observer:
        def job_started(self, job: Job) -> None:
            pass

        def job_progress(self, job: Job, progress: dict[str, object]) -> None:
            pass

        def job_ended(self, job: Job, outcome: str) -> None:
            ended.append((job.id, outcome))

    worker = Worker(ws.jobs, ws, observer=Observer())
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: bool(worker.running()))

    worker.stop(now=True)
    thread.join(10)

    after = ws.jobs.get(job.id)
    assert (after.status, after.attempts, after.lease_owner) == (JobStatus.QUEUED, 0, None)
    assert ended == [(job.id, "RELEASED")]
