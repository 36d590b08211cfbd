"""Statements compiled once and run on the driver's cursor, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Float, bindparam, literal, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

from modelyard.store import Database
from modelyard.tracking._prepared import Prepared, fetch_all


def test_fixed_and_runtime_values_are_bound(db: Database) -> None:
    stmt = select(literal("x"), literal(2), bindparam("n") + 1)
    with db.read() as conn:
        prepared = Prepared.compile(stmt, conn.dialect, ["n"])
        rows = fetch_all(conn, prepared.sql, prepared.parameters({"n": 40}))
    assert [tuple(row) for row in rows] == [("x", 2, 41)]


def test_fixed_values_are_processed_for_their_type() -> None:
    # SQLAlchemy binds a Float as a Python float on SQLite, where 1 would compare as INTEGER
    prepared = Prepared.compile(select(literal(1, Float())), sqlite.dialect(), [])
    (value,) = prepared.fixed.values()
    assert isinstance(value, float)
    assert prepared.parameters({}) == (1.0,)


def test_driver_errors_are_raised_as_sqlalchemy_errors(db: Database) -> None:
    with db.read() as conn:
        prepared = Prepared.compile(text("SELECT * FROM no_such_table"), conn.dialect, [])
        with pytest.raises(DBAPIError, match="no_such_table"):
            fetch_all(conn, prepared.sql, prepared.parameters({}))
