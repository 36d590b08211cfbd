"""``modelyard serve`` as a real process on a free port of 127.0.0.1, for the tests that
need one: start it, wait until it is ready, stop it as a process manager would, or kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")

    def stop(self) -> None:
        """SIGTERM, as a process manager stops it: uvicorn finishes the requests in flight,
        the app's shutdown stops the runtime, and the process ends by that signal."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=30)
        log = self.log.read_text()
        assert status in (0, -signal.SIGTERM), log
        assert "Application shutdown complete" in log, log

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as in a crash or an out-of-memory kill."""
        self.process.kill()
        assert self.process.wait(timeout=30) == -signal.SIGKILL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch(workspace: Path, *args: str, env: Mapping[str, str] | None = None) -> Server:
    """``modelyard serve`` on a free port, not waited for (see :func:`wait_ready`). The
    process sees no MODELYARD_* variable of the test's environment, only those of ``env``."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    log = workspace / f"server-{port}.log"
    command = [sys.executable, "-m", "modelyard.cli", "-w", str(workspace), "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**environ, **(env or {})},
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def wait_ready(server: Server, timeout_s: float = 120.0) -> Server:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"server not ready in time:\n{server.log.read_text()}")
