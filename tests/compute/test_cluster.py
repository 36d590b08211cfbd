"""``compute = "ray://host:port"``: a worker process sends a heavy job to a Ray cluster it
reaches over Ray Client. The cluster is a real one (``ray start --head``, in a process group
of its own, so killing the group ends all of it); the workspace folder reaches its tasks as
their working directory, and what they write lands in PostgreSQL and a shared folder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.jobs import JobStatus, Worker

pytestmark = pytest.mark.postgres
KINDS = Path(__file__).with_name("jobkinds.py")
BIN = Path(sys.executable).parent
# A cluster with Ray's token authentication needs its token on every client; this test's
# cluster, on 127.0.0.1 only, runs without.
NO_AUTH = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cluster() -> Iterator[str]:
    """A one-CPU Ray cluster started with ``ray start --head``; its Ray Client address."""
    client = _free_port()
    # A folder of its own (short: Ray's socket paths must fit in 107 bytes), so that the
    # address file `ray start` writes is not found by the session's own `ray.init`.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    head = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={_free_port()}",
            f"--ray-client-server-port={client}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=NO_AUTH,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _listening(client):
            assert head.poll() is None, "ray start --head exited"
            assert time.monotonic() < deadline, "the Ray Client server did not start"
            time.sleep(0.2)
        yield f"ray://127.0.0.1:{client}"
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head, its raylet, GCS and workers
        head.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_worker_runs_heavy_jobs_on_a_ray_cluster_over_ray_client(
    cluster: str, postgres_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    shutil.copy(KINDS, folder / "jobkinds.py")  # travels with the workspace folder
    (folder / "modelyard.toml").write_text(
        f'metadata_url = "{postgres_url}"\n'
        f'artifacts_url = "{tmp_path / "shared"}"\n'
        f'compute = "{cluster}"\n\n'
        '[jobs]\nkind_modules = ["jobkinds.py"]\npoll_s = 0.05\n'
    )
    ws = Workspace(load_settings(folder))
    ws.start()
    try:
        job = ws.jobs.enqueue("crunch", {"steps": 2, "pause": 0.1})

        worker = subprocess.run(
            [str(BIN / "modelyard"), "worker", "--drain"],
            cwd=folder,
            env=NO_AUTH,
            capture_output=True,
            text=True,
            timeout=240,
        )

        assert worker.returncode == 0, worker.stderr
        assert f"on compute '{cluster}'" in " ".join(worker.stderr.split())  # rich wraps
        done = ws.jobs.get(job.id)
        assert done.status == JobStatus.SUCCEEDED, done.error
        assert done.result is not None
        run = ws.tracking.get_run(str(done.result["run_id"]))  # written on the cluster
        assert run.params["pid"] == str(done.result["pid"])
    finally:
        ws.close()


def test_a_cluster_worker_refuses_stores_only_this_machine_has(tmp_path: Path) -> None:
    (tmp_path / "modelyard.toml").write_text('compute = "ray://127.0.0.1:1"\n')
    ws = Workspace(load_settings(tmp_path))
    ws.start()
    try:
        job = ws.jobs.enqueue("train", {"recipe": "any"}, max_attempts=1)
        Worker(ws.jobs, ws).run(drain=True)  # no connection is tried: the stores are refused

        failed = ws.jobs.get(job.id)
        assert failed.status == JobStatus.DEAD and failed.error is not None
        assert failed.error["type"] == "ConfigError"
        assert "metadata_url is SQLite" in failed.error["message"]
    finally:
        ws.close()
