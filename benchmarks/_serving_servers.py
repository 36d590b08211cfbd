"""Starting, checking and stopping the servers of the serving benchmark.

A server runs in its own session, bound to 127.0.0.1, its output in a log file; it is stopped
with SIGINT to its process group, then SIGTERM and SIGKILL to the group and to every process
found under it.
Every request loop here is bounded both in count and in time, and only talks to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _serving_procs as procs

HOST = "127.0.0.1"
STOP_SIGNALS = ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server and where it answers predictions."""

    name: str
    argv: list[str]
    path: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready_timeout_s: float = 180.0
    notes: str = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(spec: ServerSpec, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The server's process while the block runs; stopped afterwards, whatever happens."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
            try:
                stop(process)
            finally:
                signal.signal(signal.SIGINT, ignored)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group and every process under it (BentoML's worker has a
    session of its own), more firmly each time they do not end."""
    known = procs.tree(process.pid)
    for sig, wait_s in STOP_SIGNALS:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        if sig != signal.SIGINT:  # the first time, each server stops its own workers
            for pid in procs.still_running(known):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process.poll() is not None and not procs.still_running(known):
                return
            time.sleep(0.1)


def post(port: int, path: str, body: bytes, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """One POST to 127.0.0.1 (a new connection), its status and body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(
    spec: ServerSpec, process: subprocess.Popen[bytes], body: bytes
) -> tuple[float, str | None]:
    """Seconds until the server answered ``body`` with a 2xx, and None, or the reason it did
    not within its ``ready_timeout_s`` (polled at most every quarter second)."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < spec.ready_timeout_s:
        if process.poll() is not None:
            return time.monotonic() - start, f"exited with status {process.returncode}"
        try:
            status, answer = post(spec.port, spec.path, body, timeout_s=5.0)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                return time.monotonic() - start, None
            last = f"HTTP {status}: {answer[:200]!r}"
        time.sleep(0.25)
    return time.monotonic() - start, f"not ready after {spec.ready_timeout_s:g}s ({last})"


def warm_up(port: int, path: str, body: bytes, count: int, limit_s: float) -> dict[str, Any]:
    """Up to ``count`` requests, one after another on one keep-alive connection, for at most
    ``limit_s`` seconds."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10.0)
    start, sent, ok = time.monotonic(), 0, 0
    try:
        while sent < count and time.monotonic() - start < limit_s:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            sent += 1
            ok += 200 <= response.status < 300
    finally:
        conn.close()
    return {"requests": sent, "ok": ok, "seconds": time.monotonic() - start}


def predicted_class(answer: bytes) -> int | None:
    """The class in an answer: ``{"predictions": [c]}`` or ``[c]`` (BentoML); else None."""
    try:
        payload: Any = json.loads(answer)
    except ValueError:
        return None
    if isinstance(payload, dict):
        payload = payload.get("predictions")
    while isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        return None
    return int(payload)


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a server's log, to show why it failed."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
