"""The metadata database: one engine, explicit read and write transactions.

SQLite is opened in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE``: a deferred transaction that reads first and writes later cannot wait
for another process's lock (SQLite returns "database is locked" at once to avoid a
deadlock), so every write takes the write lock up front and queues behind the busy timeout
instead. PostgreSQL needs none of that and gets pre-ping so that a restarted server is
reconnected transparently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from modelyard.errors import ConfigError, StoreUnavailableError

__all__ = ["Database"]

_WRITE = "modelyard_write"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"metadata_url {url!r} is not a database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Database:
    """A metadata database reached by SQLAlchemy URL (SQLite or PostgreSQL).

    The constructor only parses the URL; the engine is created on first use and
    :meth:`check` proves the database is reachable.

    Example:
        >>> db = Database("sqlite:///:memory:")
        >>> with db.write() as conn:
        ...     _ = conn.exec_driver_sql("create table t (x int)")
    """

    def __init__(
        self, url: str, *, busy_timeout_s: float = 60.0, connect_timeout_s: float = 5.0
    ) -> None:
        self.url = _normalise(url)
        self.busy_timeout_s = busy_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._engine: Engine | None = None

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.url.get_backend_name()

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = self.url.database or ""
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreUnavailableError(
                        "metadata database", self.display_url, str(exc)
                    ) from None
            kwargs["connect_args"] = {"timeout": self.busy_timeout_s, "check_same_thread": False}
        elif self.dialect == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": max(1, round(self.connect_timeout_s))}
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(self.url, **kwargs)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            extra = "postgres" if self.dialect == "postgresql" else self.dialect
            raise ConfigError(
                f"no driver for {self.display_url} ({exc}); install modelyard[{extra}]"
            ) from None
        if self.dialect == "sqlite":
            self._tune_sqlite(engine)
        return engine

    def _tune_sqlite(self, engine: Engine) -> None:
        busy_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    def check(self) -> None:
        """Connect once; raise :class:`StoreUnavailableError` if the database is unreachable."""
        with self.read() as conn:
            conn.execute(text("select 1"))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: committed on success, rolled back on error."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads."""
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailableError(
                "metadata database", self.display_url, _reason(exc)
            ) from exc

    def dispose(self) -> None:
        """Close every pooled connection (call after fork, or when done)."""
        if self._engine is not None:
            self._engine.dispose()


def _reason(exc: DBAPIError) -> str:
    text_ = str(exc.orig).strip() if exc.orig is not None else str(exc)
    return " ".join(text_.split())[:300]
