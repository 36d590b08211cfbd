"""Alembic migrations of the metadata database, run programmatically.

Opening a workspace calls :func:`ensure_schema`: a fast check of the stored revision and,
when ``auto_migrate`` is on, an upgrade to ``HEAD`` in one transaction that holds the
database's write lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so
that processes opening a fresh database at once migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from modelyard.errors import ConfigError
from modelyard.store._db import Database

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "current_revision", "ensure_schema", "upgrade"]

HEAD = "0007"
_LOCK_KEY = 0x6D6F64656C  # "model": the advisory lock id on PostgreSQL
_SCRIPTS = Path(__file__).with_name("migrations")


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.read() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("select version_num from alembic_version")).scalar()


def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` in one locked transaction."""
    from alembic import command
    from alembic.util.exc import CommandError

    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        try:
            command.upgrade(_config(conn), revision)
        except CommandError as exc:
            raise ConfigError(
                f"cannot migrate the metadata database at {db.display_url}: {exc} "
                "(was it written by a newer modelyard?)"
            ) from None


def ensure_schema(db: Database, *, auto_migrate: bool) -> None:
    """Make sure the schema is at ``HEAD``, upgrading it when allowed."""
    revision = current_revision(db)
    if revision == HEAD:
        return
    if not auto_migrate:
        raise ConfigError(
            f"the metadata database at {db.display_url} is at revision {revision or 'none'} "
            f"but this modelyard needs {HEAD}: run `modelyard db upgrade`"
        )
    upgrade(db)
