"""The embedded online store: one SQLite file, one table per feature view.

Each view is a ``WITHOUT ROWID`` table keyed by the canonical entity key, so a lookup is
one B-tree search and deleting a view is a ``DROP TABLE``. The file is in WAL mode:
readers never wait for the writer. Each thread gets its own connection (servers read
from thread pools), opened on first use; a write is one transaction of one
``executemany`` upsert whose ``WHERE excluded.event_ts >= event_ts`` keeps newer rows.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from modelyard.errors import StoreUnavailableError
from modelyard.features._online import EncodedRow, OnlineStore

__all__ = ["SqliteOnlineStore"]

_CHUNK = 500  # keys per SELECT, well under SQLite's limit on parameters


@functools.lru_cache(maxsize=64)
def _select(view: str, count: int) -> str:
    where = "key = ?" if count == 1 else f"key IN ({', '.join('?' * count)})"
    return f'SELECT key, event_ts, data FROM "fv_{view}" WHERE {where}'


def _by_key(row: EncodedRow) -> bytes:
    return row[0]


@functools.lru_cache(maxsize=64)
def _upsert(view: str) -> tuple[str, str]:
    table = f'"fv_{view}"'
    create = (
        f"CREATE TABLE IF NOT EXISTS {table} (key BLOB PRIMARY KEY, "
        "event_ts INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID"
    )
    upsert = (
        f"INSERT INTO {table} (key, event_ts, data) VALUES (?, ?, ?) ON CONFLICT (key) DO "
        f"UPDATE SET event_ts = excluded.event_ts, data = excluded.data "
        f"WHERE excluded.event_ts >= {table}.event_ts"
    )
    return create, upsert


class SqliteOnlineStore(OnlineStore):
    """Online features in the SQLite file at ``path`` (created with its folder on first
    use).

    Example:
        >>> with SqliteOnlineStore(".modelyard/online.db") as store:
        ...     store.read("user_stats", [(42,)], ["txn_count"]).values["txn_count"]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
        return con

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("online store", str(self.path), "it is closed")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(
                    self.path,
                    timeout=self.timeout_s,
                    isolation_level=None,  # transactions are explicit
                    check_same_thread=False,  # only close() touches another thread's
                    cached_statements=256,
                )
                con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA synchronous = NORMAL")
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailableError("online store", str(self.path), str(exc)) from None
            self._connections.append(con)
            return con

    def _put(self, view: str, rows: list[EncodedRow]) -> int:
        create, upsert = _upsert(view)
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(create)
            before = con.total_changes
            # in key order (stable: a key's rows keep theirs), which fills the B-tree in
            # order, about 3x faster than random order; a no-op for sorted batches
            ordered: list[EncodedRow] = sorted(rows, key=_by_key)
            con.executemany(upsert, ordered)
            written = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return written

    def _get(self, view: str, keys: list[bytes]) -> Mapping[bytes, tuple[int, bytes]]:
        con = self._con()
        found: dict[bytes, tuple[int, bytes]] = {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                for key, ts, data in con.execute(_select(view, len(chunk)), chunk):
                    found[key] = (ts, data)
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("no such table"):
                return {}  # nothing was ever written to this view
            raise
        return found

    def _drop(self, view: str) -> None:
        self._con().execute(f'DROP TABLE IF EXISTS "fv_{view}"')

    def close(self) -> None:
        """Close every thread's connection; later calls raise StoreUnavailableError."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for con in connections:
            con.close()
        self._local = threading.local()
