"""Statements compiled once and run straight on the driver's cursor.

Run search is tracking's hot read path, and for a page of runs SQLAlchemy's work per call
(parameter processing, result metadata, a ``Row`` per row) costs about as much as the
database's own. A :class:`Prepared` holds the final SQL text of a Core statement for one
dialect with the values it binds at build time already processed, and runs it on the
DBAPI cursor of a SQLAlchemy connection, inside that connection's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "fetch_all"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """SQL text and the values it binds, but for those given per call.

    ``order`` lists the parameter names in placeholder order for a positional paramstyle
    (SQLite's ``?``), and is None for a named one (psycopg's ``%(name)s``).
    """

    sql: str
    fixed: Mapping[str, Any]
    order: tuple[str, ...] | None

    @classmethod
    def compile(cls, stmt: ClauseElement, dialect: Dialect, runtime: Sequence[str]) -> Prepared:
        """Compile ``stmt``; every bind parameter not named in ``runtime`` has its value.

        Runtime values are passed to the driver as they are, so they must be of types the
        driver takes without conversion (str, int).
        """
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler), compiled
        values = compiled.construct_params(dict.fromkeys(runtime))
        fixed = {}
        for name, value in values.items():
            if name in runtime:
                continue
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            fixed[name] = value if process is None else process(value)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(compiled.string, fixed, order)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The driver's parameters for one call with the ``runtime`` ``values``."""
        merged = {**self.fixed, **values}
        return merged if self.order is None else tuple(merged[name] for name in self.order)


def fetch_all(conn: Connection, sql: str, parameters: Any) -> Sequence[Any]:
    """Rows of ``sql`` run on the driver connection under ``conn``, as plain tuples.

    Driver errors are raised as SQLAlchemy's wrappers, as ``conn.execute`` would, so that
    callers (and :meth:`Database.read`) handle them alike.
    """
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchall()
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, parameters, exc, dbapi.Error) from exc
    finally:
        cursor.close()
