"""Helpers shared by the data tests (importable by name: ``tests`` is on the path)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.data._checks_base import Check, CheckContext, run_checks
from modelyard.data._duck import literal
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.data._stats import relation_schema
from modelyard.data._types import CheckResult

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


class Recorder:
    """A connection that records the SQL it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.queries: list[str] = []

    def execute(self, sql: str, *args: Any) -> duckdb.DuckDBPyConnection:
        self.queries.append(sql)
        return self.con.execute(sql, *args)


def parquet(tmp_path: Path, name: str, **columns: Any) -> str:
    """Write ``columns`` as a Parquet file; returns the DuckDB relation that reads it."""
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table(columns), path)
    return f"read_parquet([{literal(str(path))}])"


def context(con: Any, relation: str, **kwargs: Any) -> CheckContext:
    """A check context over ``relation`` (``con`` may be a :class:`Recorder`)."""
    real = con.con if isinstance(con, Recorder) else con
    ((rows,),) = real.execute(f"SELECT count(*) FROM {relation}").fetchall()
    return CheckContext(con, relation, relation_schema(real, relation), rows, now=NOW, **kwargs)


def run_extract(
    source: Source, ctx: SourceContext, *, commit: bool = True
) -> tuple[Extract, list[dict[str, Any]]]:
    """One run of a source by hand, as the runner drives it; returns the extract and the
    rows its view held."""
    extract = source.extract(ctx)
    con = duckdb.connect()
    try:
        extract.register(con, ctx.source)
        extract.verify(con)
        rows = con.sql(f"SELECT * FROM {ctx.source}").to_arrow_table().to_pylist()
        if commit and not extract.empty:
            with ctx.db.write() as conn:
                extract.commit(conn, "run" + uuid.uuid4().hex[:8])
            extract.finish()
        else:
            extract.abort()
    finally:
        con.close()
    return extract, rows


def run_one(check: Check, ctx: CheckContext) -> CheckResult:
    """The result of ``check`` alone."""
    return run_checks([check], ctx).results[0]
