"""The prediction log: every answered request is on disk before its caller sees it.

:meth:`PredictionLog.append` writes one orjson line per request, holding the request's
columns as lists, with one ``os.write`` to this process's write-ahead file under
``<predictions>/wal/`` (``fsync`` too when ``log_fsync`` is set, one fsync shared by every
writer waiting on it). The file is locked (``flock``) while this process owns it. A
background thread rotates it when it reaches ``segment_rows`` rows or ``segment_seconds``
of age, rolls the closed file into Parquet segments (:mod:`._logroll`) and deletes it.
:meth:`start` first rolls any WAL that no live process holds: what a killed process
acknowledged is recovered, exactly once.

Example:
    >>> log = PredictionLog(root, "srv-1", segment_rows=100_000, segment_seconds=60)
    >>> log.start()
    >>> log.append(encode_record(...), rows=3)   # durable against a kill from here on
    >>> log.stop()                               # everything rolled to Parquet
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelyard.serving._logroll import roll_wal
from modelyard.serving._types import InputBatch

__all__ = ["LogEntry", "PredictionLog", "encode_record"]

log = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs twice
class LogEntry:
    """The facts of one answered request, as the runtime knows them."""

    request_id: str
    ids: list[str]
    timestamp_ms: int
    deployment: str
    model: str
    version: int
    target: str
    shadow: bool
    latency_ms: float
    server_id: str
    batch: InputBatch
    outputs: np.ndarray
    cache_hits: np.ndarray | None = None  # bool per row, when the cache was asked


def encode_record(entry: LogEntry) -> bytes:
    """One WAL line (newline included): numpy columns are serialised whole by orjson."""
    batch = entry.batch
    record = {
        "request_id": entry.request_id,
        "ts": entry.timestamp_ms,
        "deployment": entry.deployment,
        "model": entry.model,
        "version": entry.version,
        "target": entry.target,
        "shadow": entry.shadow,
        "latency_ms": entry.latency_ms,
        "server_id": entry.server_id,
        "ids": entry.ids,
        "cache_hit": entry.cache_hits,
        "inputs": dict(batch.columns) if batch.columns is not None else None,
        "tensor": batch.tensor,
        "outputs": entry.outputs,
    }
    return orjson.dumps(
        record, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    )


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # object columns, non-contiguous views
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot log a value of type {type(value).__name__}")


@dataclass(slots=True)
class _Wal:
    path: Path
    fd: int
    rows: int = 0
    first_write: float = 0.0


class PredictionLog:
    """A per-process WAL plus the thread that rolls it into Parquet."""

    def __init__(
        self,
        root: Path,
        server_id: str,
        *,
        segment_rows: int = 100_000,
        segment_seconds: float = 60.0,
        fsync: bool = False,
    ) -> None:
        self.root = root
        self.server_id = server_id
        self.segment_rows = segment_rows
        self.segment_seconds = segment_seconds
        self.fsync = fsync
        self._wal_dir = root / "wal"
        self._stem = f"{_safe(server_id)}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._current: _Wal | None = None
        self._closed: list[_Wal] = []
        self._lock = threading.Lock()  # the current WAL and its counters
        self._sync_lock = threading.Lock()  # one fsync at a time; taken before _lock
        self._roll_lock = threading.Lock()  # one roll at a time
        self._written = 0
        self._synced = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover WALs left by dead processes, open this process's WAL, start rolling.
        Blocking: call it from a thread when an event loop is running."""
        self._wal_dir.mkdir(parents=True, exist_ok=True)
        self.recover()
        with self._lock:
            self._current = self._open_next()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="modelyard-predlog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Roll everything written so far into Parquet and stop. Blocking."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._rotate(final=True)
        try:
            self._roll_closed()
        except Exception:  # the WAL stays on disk; the next start recovers it
            log.exception("rolling the prediction log into Parquet at stop failed")

    def flush(self) -> None:
        """Roll what was written so far into Parquet now. Blocking."""
        self._rotate()
        self._roll_closed()

    def recover(self) -> int:
        """Roll every WAL under ``wal/`` that no live process holds; rows recovered."""
        rows = 0
        for path in sorted(self._wal_dir.glob("*.jsonl")):
            wal = _claim(path)
            if wal is None:
                continue
            try:
                rows += self._roll(wal)
            except Exception:
                os.close(wal.fd)  # left for the next start
                log.exception("recovering prediction WAL %s failed", path)
        return rows

    # -- writing ----------------------------------------------------------------------------

    def append(self, line: bytes, rows: int) -> None:
        """Write one request's line; when this returns it survives a kill of the process
        (and a power loss too with ``fsync``)."""
        with self._lock:
            wal = self._current
            if wal is None:
                raise RuntimeError("the prediction log is not started")
            _write_all(wal.fd, line)
            if wal.rows == 0:
                wal.first_write = time.monotonic()
            wal.rows += rows
            self._written += 1
            ticket = self._written
            if wal.rows >= self.segment_rows:
                self._wake.set()
        if self.fsync:
            self._sync_through(ticket)

    def _sync_through(self, ticket: int) -> None:
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another writer's fsync covered this line
            with self._lock:
                fd, upto = (self._current.fd if self._current else -1), self._written
            if fd >= 0:
                os.fsync(fd)
            self._synced = upto

    # -- rolling ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(timeout=min(self.segment_seconds / 4, 1.0))
            self._wake.clear()
            try:
                if self._due():
                    self._rotate()
                self._roll_closed()
            except Exception:  # a full disk must not end logging; the WAL is kept
                log.exception("rolling the prediction log into Parquet failed; will retry")

    def _due(self) -> bool:
        with self._lock:
            wal = self._current
            if wal is None or wal.rows == 0:
                return False
            age = time.monotonic() - wal.first_write
            return wal.rows >= self.segment_rows or age >= self.segment_seconds

    def _rotate(self, *, final: bool = False) -> None:
        with self._sync_lock, self._lock:
            wal = self._current
            if wal is None or (wal.rows == 0 and not final):
                return
            if self.fsync:
                os.fsync(wal.fd)
            self._synced = self._written
            self._current = None if final else self._open_next()
            self._closed.append(wal)

    def _roll_closed(self) -> None:
        with self._roll_lock:
            while self._closed:
                self._roll(self._closed[0])
                self._closed.pop(0)

    def _roll(self, wal: _Wal) -> int:
        """Parquet segments from ``wal`` (still locked by us), then delete and unlock it.
        On failure the file stays, locked, for the next try."""
        rows = roll_wal(wal.path, self.root) if wal.path.stat().st_size else 0
        wal.path.unlink(missing_ok=True)
        os.close(wal.fd)
        return rows

    def _open_next(self) -> _Wal:
        self._seq += 1
        # "_": dataset readers (pyarrow, DuckDB globs of *.parquet) skip it under the root
        path = self._wal_dir / f"_{self._stem}-{self._seq:06d}.jsonl"
        fd = os.open(path, _OPEN_FLAGS, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Wal(path, fd)


def _claim(path: Path) -> _Wal | None:
    """``path`` locked by us, or None when a live process holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not path.exists():  # rolled and deleted by another process meanwhile
        os.close(fd)
        return None
    return _Wal(path, fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:64]
