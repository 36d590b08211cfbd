"""Helpers of the job tests (imported as ``jobs.kit``): workspaces whose modelyard.toml sets
short leases and the test job kinds (``jobkit.py``), so worker processes read the same
settings, and worker processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from modelyard import Workspace
from modelyard.config import load_settings

JOBKIT = Path(__file__).with_name("jobkit.py").resolve()
FAST = {
    "lease_s": 1.0,
    "heartbeat_s": 0.2,
    "poll_s": 0.02,
    "backoff_s": 0.05,
    "backoff_max_s": 1.0,
    "shutdown_grace_s": 2.0,
    "schedule_check_s": 0.05,
}


def write_workspace(folder: Path, url: str, **jobs: Any) -> Path:
    """A workspace folder whose settings every process reads from its modelyard.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    table = {**FAST, **jobs, "kind_modules": [str(JOBKIT)]}
    lines = [f"metadata_url = {_toml(url)}", "", "[jobs]"]
    lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    (folder / "modelyard.toml").write_text("\n".join(lines) + "\n")
    return folder


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def open_ws(folder: Path) -> Workspace:
    ws = Workspace(load_settings(folder))
    ws.start()
    return ws


def spawn_worker(folder: Path, *args: str) -> subprocess.Popen[str]:
    """``modelyard worker`` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "-w", str(folder), "worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


_PRELOAD = [  # importable without the tests folder, which the fork server lacks
    "modelyard._workspace",
    "modelyard.jobs",
    "modelyard.store",
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.sqlite",
]


def drain(folder: str, concurrency: int) -> None:
    """The body of a worker process: run jobs until none is queued or running."""
    from modelyard.jobs import Worker

    ws = open_ws(Path(folder))
    try:
        Worker(ws.jobs, ws, concurrency=concurrency).run(drain=True)
    finally:
        ws.close()


def start_drains(folder: Path, count: int, concurrency: int) -> list[BaseProcess]:
    """``count`` worker processes running :func:`drain`, forked from a server that imported
    modelyard once (a fresh interpreter per worker would cost a second or more each)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    procs = [context.Process(target=drain, args=(str(folder), concurrency)) for _ in range(count)]
    for proc in procs:
        proc.start()
    return procs


def lines(path: Path) -> list[list[str]]:
    """The records a test job kind appended to ``path``, split into words."""
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temporary folder on a free port, to stop and
    start at will (the shared server on 5432 is never touched). Its tools refuse to run as
    root, so as root they run as the ``postgres`` user."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="modelyard-pg-"))
        self.port = _free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    @classmethod
    def find_bin(cls) -> Path | None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        return found[-1].parent if found else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            f"{self.folder}/data",
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            f"{self.folder}/data",
            "-l",
            f"{self.folder}/log",
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", f"{self.folder}/data", "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
