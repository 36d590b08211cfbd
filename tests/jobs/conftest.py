"""Fixtures of the job tests: a workspace per metadata backend with fast job settings."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobs.kit import open_ws, spawn_worker, write_workspace
from modelyard import Workspace


@pytest.fixture
def ws_dir(db_url: str, tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", db_url)


@pytest.fixture
def ws(ws_dir: Path) -> Iterator[Workspace]:
    """A started workspace on each metadata backend, with fast job settings."""
    workspace = open_ws(ws_dir)
    yield workspace
    workspace.close()


@pytest.fixture
def workers() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts worker processes; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []

    def start(folder: Path, *args: str) -> subprocess.Popen[str]:
        started.append(spawn_worker(folder, *args))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


@pytest.fixture
def sqlite_ws(tmp_path: Path) -> Iterator[Workspace]:
    """A started workspace on SQLite only, for what the metadata backend does not change."""
    workspace = open_ws(write_workspace(tmp_path / "ws", f"sqlite:///{tmp_path / 'm.db'}"))
    yield workspace
    workspace.close()
