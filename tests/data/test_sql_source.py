"""SQL query sources on a real SQLite file and the real PostgreSQL, driven through the source
contract by hand: extract, register, verify, commit, finish."""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
import pytest
from sqlalchemy import create_engine, text

from datakit import run_extract
from modelyard.config import DataSettings
from modelyard.data._source import Source, SourceContext
from modelyard.data._sql import SqlExtract, sql_source
from modelyard.errors import SourceUnavailableError, ValidationError

if TYPE_CHECKING:
    from modelyard.data._datasets import DatasetStore
    from modelyard.store import Database

ROWS = [
    (1, 10.5, "2024-01-01 00:00:00", "a"),
    (2, 20.25, "2024-01-02 00:00:00", "b:c"),
    (3, None, "2024-01-03 00:00:00", None),
]


class SourceDb:
    """A source database with an ``orders`` table: a SQLite file, or a fresh schema in the
    session's PostgreSQL database."""

    def __init__(self, url: str, table: str) -> None:
        self.url = url
        self.table = table
        self.engine = create_engine(url)

    def execute(self, sql: str, rows: list[dict[str, Any]] | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql.replace("{t}", self.table)), rows or {})

    def insert(self, *rows: tuple[Any, ...]) -> None:
        names = ("id", "amount", "updated_at", "note")
        self.execute(
            "INSERT INTO {t} VALUES (:id, :amount, :updated_at, :note)",
            [dict(zip(names, row, strict=True)) for row in rows],
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceDb]:
    if request.param == "sqlite":
        found = SourceDb(f"sqlite:///{tmp_path / 'source.db'}", "orders")
        types = "id INTEGER, amount REAL, updated_at TIMESTAMP, note TEXT"
    else:
        url: str = request.getfixturevalue("postgres_url")
        schema = f"src_{uuid.uuid4().hex[:10]}"
        found = SourceDb(url, f"{schema}.orders")
        found.execute(f"CREATE SCHEMA {schema}")
        types = "id BIGINT, amount NUMERIC(10, 2), updated_at TIMESTAMP, note TEXT"
    found.execute(f"CREATE TABLE {{t}} ({types})")
    found.insert(*ROWS)
    yield found
    if request.param == "postgresql":
        found.execute(f"DROP SCHEMA {found.table.split('.')[0]} CASCADE")
    found.engine.dispose()


def _ctx(
    db: Database, tmp_path: Path, *, batch_rows: int = 1000, full: bool = False
) -> SourceContext:
    settings = DataSettings(batch_rows=batch_rows)
    datasets = cast("DatasetStore", None)  # the SQL source does not read datasets
    return SourceContext("orders_pipeline", "orders", db, datasets, settings, tmp_path, None, full)


def _types(source: Source, ctx: SourceContext) -> dict[str, str]:
    extract = source.extract(ctx)
    con = duckdb.connect()
    extract.register(con, "v")
    described = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE v").fetchall()}
    extract.abort()
    con.close()
    return described


def test_the_whole_result_is_read_as_typed_columns(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table} ORDER BY id")
    extract, rows = run_extract(source, _ctx(db, tmp_path))
    assert not extract.empty
    assert [(r["id"], r["note"]) for r in rows] == [(1, "a"), (2, "b:c"), (3, None)]
    assert [None if r["amount"] is None else float(r["amount"]) for r in rows] == [
        10.5,
        20.25,
        None,
    ]
    types = _types(source, _ctx(db, tmp_path))
    assert types["id"] in ("BIGINT", "INTEGER")
    if source_db.engine.dialect.name == "postgresql":  # ADBC: exact types
        assert types == {"id": "BIGINT", "amount": "DECIMAL(10,2)",
                         "updated_at": "TIMESTAMP", "note": "VARCHAR"}  # fmt: skip


def test_an_unchanged_result_is_empty_until_a_row_changes(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table} ORDER BY id")
    first, _ = run_extract(source, _ctx(db, tmp_path))
    again, rows = run_extract(source, _ctx(db, tmp_path))
    assert not first.empty and again.empty
    assert len(rows) == 3  # the view still holds the result
    source_db.insert((4, 1.0, "2024-01-04 00:00:00", "d"))
    changed, rows = run_extract(source, _ctx(db, tmp_path))
    assert not changed.empty and len(rows) == 4
    assert changed.lineage()["digest"] != first.lineage()["digest"]


def test_a_cursor_reads_only_rows_past_the_last_loaded_one(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table}", cursor="updated_at")
    _, rows = run_extract(source, _ctx(db, tmp_path))
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert run_extract(source, _ctx(db, tmp_path))[0].empty
    source_db.insert((5, 2.0, "2024-01-06 00:00:00", "e"), (4, 1.0, "2024-01-05 00:00:00", "d"))
    source_db.execute("UPDATE {t} SET updated_at = '2024-01-07 00:00:00' WHERE id = 1")
    later, rows = run_extract(source, _ctx(db, tmp_path))
    assert [r["id"] for r in rows] == [4, 5, 1]  # in cursor order
    lineage = later.lineage()
    assert str(lineage["from"]).startswith("2024-01-03") and str(lineage["to"]).startswith(
        "2024-01-07"
    )
    assert lineage["kind"] == "sql" and lineage["rows"] == 3
    assert run_extract(source, _ctx(db, tmp_path))[0].empty


def test_an_uncommitted_run_moves_no_cursor(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table}", cursor="id")
    run_extract(source, _ctx(db, tmp_path), commit=False)
    extract, rows = run_extract(source, _ctx(db, tmp_path))
    assert not extract.empty and len(rows) == 3


def test_a_full_refresh_reads_everything_again(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table}", cursor="id")
    run_extract(source, _ctx(db, tmp_path))
    extract, rows = run_extract(source, _ctx(db, tmp_path, full=True))
    assert not extract.empty and len(rows) == 3


def test_large_results_are_read_in_batches_with_a_stable_digest(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source_db.insert(*[(i, float(i), "2024-02-01 00:00:00", f"n{i}") for i in range(10, 30)])
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table} ORDER BY id")
    first, rows = run_extract(source, _ctx(db, tmp_path, batch_rows=4), commit=False)
    second, _ = run_extract(source, _ctx(db, tmp_path, batch_rows=4), commit=False)
    assert len(rows) == 23 and [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert len(cast(SqlExtract, first).spill.files) == 6  # 23 rows, 4 at a time
    assert first.lineage()["digest"] == second.lineage()["digest"]


def test_an_empty_result_keeps_its_columns(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(
        source_db.url, f"SELECT id, note FROM {source_db.table} WHERE id < 0", cursor="id"
    )
    assert set(_types(source, _ctx(db, tmp_path))) == {"id", "note"}
    assert run_extract(source, _ctx(db, tmp_path))[0].empty


def test_colons_in_the_query_are_not_parameters(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    query = f"SELECT id FROM {source_db.table} WHERE note = 'b:c' OR note = ':id'"
    _, rows = run_extract(sql_source(source_db.url, query, cursor="id"), _ctx(db, tmp_path))
    assert rows == [{"id": 2}]


def test_a_sql_error_is_a_validation_error_with_the_database_message(
    source_db: SourceDb, db: Database, tmp_path: Path
) -> None:
    source = sql_source(source_db.url, "SELECT * FROM no_such_table_here")
    with pytest.raises(ValidationError, match="no_such_table_here") as info:
        source.extract(_ctx(db, tmp_path))
    assert not isinstance(info.value, SourceUnavailableError)


def test_an_unreachable_postgres_is_unavailable_quickly(db: Database, tmp_path: Path) -> None:
    source = sql_source("postgresql+psycopg://postgres:secret@127.0.0.1:1/test", "SELECT 1")
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match=r"127\.0\.0\.1:1") as info:
        source.extract(_ctx(db, tmp_path))
    assert time.monotonic() - started < 10
    assert "secret" not in str(info.value)


def test_an_unopenable_sqlite_file_is_unavailable(db: Database, tmp_path: Path) -> None:
    source = sql_source(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}", "SELECT 1")
    with pytest.raises(SourceUnavailableError):
        source.extract(_ctx(db, tmp_path))


def test_a_relative_sqlite_path_is_found_in_the_workspace(db: Database, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'local.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (7)"))
    engine.dispose()
    _, rows = run_extract(sql_source("sqlite:///local.db", "SELECT x FROM t"), _ctx(db, tmp_path))
    assert rows == [{"x": 7}]


def test_postgres_numeric_and_time_zones_keep_their_meaning(
    postgres_url: str, db: Database, tmp_path: Path
) -> None:
    query = ("SELECT 1.5::numeric AS loose, 2.25::numeric(6, 3) AS exact, "
             "TIMESTAMPTZ '2024-01-01 12:00:00+02' AS at, DATE '2024-01-02' AS day")  # fmt: skip
    source = sql_source(postgres_url, query)
    types = _types(source, _ctx(db, tmp_path))
    assert types == {"loose": "DOUBLE", "exact": "DECIMAL(6,3)",
                     "at": "TIMESTAMP WITH TIME ZONE", "day": "DATE"}  # fmt: skip
    _, rows = run_extract(source, _ctx(db, tmp_path))
    assert rows[0]["at"] == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("source_db", ["postgresql"], indirect=True)
def test_postgres_without_adbc_falls_back_to_sqlalchemy(
    source_db: SourceDb, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)
    source = sql_source(source_db.url, f"SELECT * FROM {source_db.table}", cursor="updated_at")
    _, rows = run_extract(source, _ctx(db, tmp_path))
    assert [r["id"] for r in rows] == [1, 2, 3]
    source_db.insert((4, 1.0, "2024-01-05 00:00:00", "d"))
    _, rows = run_extract(source, _ctx(db, tmp_path))
    assert [r["id"] for r in rows] == [4]


def test_declaring_incremental_without_a_cursor_is_refused() -> None:
    with pytest.raises(ValidationError, match="cursor"):
        sql_source("sqlite://", "SELECT 1", incremental=True)
