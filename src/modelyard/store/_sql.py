"""Small SQL helpers shared by the domain stores, portable over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["insert_ignore", "upsert"]


def _insert(conn: Connection, table: Table) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


def insert_ignore(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Insert ``rows``, skipping those whose ``keys`` already exist."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(index_elements=list(keys)), rows)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
    where: Any = None,
    *,
    add: Sequence[str] = (),
) -> None:
    """Insert ``rows``; on a key conflict overwrite the ``update`` columns and add to the
    ``add`` columns (counters), but only where ``where(existing_table, excluded)`` holds
    when it is given."""
    if not rows:
        return
    stmt = _insert(conn, table)
    condition: ColumnElement[bool] | None = where(table, stmt.excluded) if where else None
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in update}
    changes.update({name: table.c[name] + stmt.excluded[name] for name in add})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_=changes,
        where=condition,
    )
    conn.execute(stmt, rows)
