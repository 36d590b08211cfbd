"""Worker processes: killed mid-job, draining together, riding out a PostgreSQL restart
(forked from a server that imported modelyard once), and ``modelyard worker`` stopped by
signals."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import service_missing
from jobs.kit import PrivatePostgres, lines, open_ws, start_drains, write_workspace
from modelyard import Workspace
from modelyard.jobs import JobStatus, Worker

Spawn = Callable[..., subprocess.Popen[str]]


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_job_of_a_killed_worker_is_leased_again_and_finished_once(
    ws: Workspace, ws_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    job = ws.jobs.enqueue("record", {"file": str(log), "sleep": 60, "sleep_attempts": 1})
    (proc,) = start_drains(ws_dir, count=1, concurrency=1)
    wait_for(lambda: ["start", job.id, "1"] in lines(log))

    proc.kill()  # SIGKILL
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    assert ws.jobs.get(job.id).status == JobStatus.RUNNING
    Worker(ws.jobs, ws).run(drain=True)  # takes the job over once the 1 s lease is gone

    after = ws.jobs.get(job.id)
    assert (after.status, after.attempts, after.result) == (JobStatus.SUCCEEDED, 2, {"attempt": 2})
    assert lines(log) == [["start", job.id, "1"], ["start", job.id, "2"], ["done", job.id, "2"]]


def test_four_worker_processes_run_a_thousand_jobs_each_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    """Leases long enough that none runs out on a busy machine: one that did would rightly
    run its job again (at least once), which is the killed worker test's subject."""
    folder = write_workspace(tmp_path / "ws", db_url, lease_s=30.0, heartbeat_s=1.0)
    log = tmp_path / "log"
    with open_ws(folder) as ws:
        ids = ws.jobs.enqueue_many("noop", [{"file": str(log), "n": n} for n in range(1000)])

        procs = start_drains(folder, count=4, concurrency=8)
        for proc in procs:
            proc.join(120)

        assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
        runs = Counter(words[0] for words in lines(log))
        assert set(runs) == set(ids) and set(runs.values()) == {1}
        assert ws.jobs.counts()[JobStatus.SUCCEEDED] == 1000
        assert {j.attempts for j in ws.jobs.list(limit=1000)} == {1}
    assert len({words[2] for words in lines(log)}) > 1  # the processes shared the work


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = PrivatePostgres.find_bin()
    if bin_dir is None:
        service_missing("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    assert bin_dir is not None
    cluster = PrivatePostgres(bin_dir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_workers_ride_out_a_postgresql_restart_and_lose_no_job(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    folder = write_workspace(tmp_path / "ws", private_postgres.url, lease_s=5.0, heartbeat_s=0.5)
    log = tmp_path / "log"
    with open_ws(folder) as ws:
        ids = ws.jobs.enqueue_many("record", [{"file": str(log), "sleep": 0.05}] * 200)
    procs = start_drains(folder, count=2, concurrency=4)
    wait_for(lambda: sum(w[0] == "done" for w in lines(log)) >= 40)

    private_postgres.stop()
    stopped_at = sum(w[0] == "done" for w in lines(log))
    time.sleep(1.0)
    private_postgres.start()
    for proc in procs:
        proc.join(120)

    assert [proc.exitcode for proc in procs] == [0, 0]

    with open_ws(folder) as ws:
        assert ws.jobs.counts()[JobStatus.SUCCEEDED] == 200
        assert {j.status for j in ws.jobs.list(limit=500)} == {JobStatus.SUCCEEDED}
    done = {w[1] for w in lines(log) if w[0] == "done"}
    assert done == set(ids)
    assert stopped_at < 200  # the restart happened mid-drain


def test_sigterm_stops_a_worker_gracefully_and_a_second_one_releases_its_job(
    sqlite_ws: Workspace, tmp_path: Path, workers: Spawn
) -> None:
    log = tmp_path / "log"
    job = sqlite_ws.jobs.enqueue("record", {"file": str(log), "sleep": 60})
    proc = workers(sqlite_ws.path, "--no-schedules")
    wait_for(lambda: ["start", job.id, "1"] in lines(log))

    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert "stopping: running jobs may finish" in err and "1 released" in err
    after = sqlite_ws.jobs.get(job.id)
    assert (after.status, after.attempts, after.lease_owner) == (JobStatus.QUEUED, 0, None)
