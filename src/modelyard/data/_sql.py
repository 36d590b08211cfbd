"""SQL query sources: the result of a query on a database URL, read as Arrow batches.

PostgreSQL is read through ADBC (``adbc-driver-postgresql``: binary COPY straight into
Arrow, no Python rows); other URLs (SQLite, MySQL...) and PostgreSQL without ADBC go through
SQLAlchemy and ``pandas.read_sql`` in chunks. Batches are spilled to Parquet files in a
temporary folder, so a result larger than memory is read with one batch in memory at a time.

With a ``cursor`` column the source is incremental: each run reads the rows whose cursor is
greater than the largest one loaded before (stored in ``pipeline_cursors`` in the version's
transaction). Without one, each run reads the whole result and is empty when its content
digest equals the last loaded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from modelyard.data._duck import ident
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.data._spill import (
    ParquetSpill,
    decode_cursor,
    encode_cursor,
    load_cursor,
    save_cursor,
)
from modelyard.errors import ConfigError, SourceUnavailableError, ValidationError

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy import Connection

__all__ = ["SqlExtract", "SqlSource", "sql_source"]

Batches = Iterator[pa.RecordBatch]


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    return " ".join(str(inner).split())[:500]


class SqlSource(Source):
    """The result of ``query`` on the database at ``url`` (a SQLAlchemy URL; a relative
    SQLite path resolves against the workspace).

    Args:
        cursor: a column of the result that grows with new or changed rows
            (``updated_at``, an id); makes the source incremental. Rows are read in cursor
            order; rows that arrive later with a cursor equal to the largest loaded are missed.
        incremental: defaults to whether a cursor is given. False with a cursor reads the
            whole result each run (in cursor order).
        connect_timeout_s: how long to wait for the database before it counts as unreachable.
    """

    kind: ClassVar[str] = "sql"

    def __init__(
        self,
        url: str,
        query: str,
        *,
        cursor: str | None = None,
        incremental: bool | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if not query.strip():
            raise ValidationError("a SQL source needs a query")
        try:
            self._url = make_url(url)
        except ArgumentError:
            raise ValidationError(f"{url!r} is not a database URL") from None
        if incremental and cursor is None:
            raise ValidationError("an incremental SQL source needs a cursor column")
        self.query = query.strip().rstrip(";").strip()
        self.cursor = cursor
        self.incremental = cursor is not None if incremental is None else incremental
        self.connect_timeout_s = connect_timeout_s

    @property
    def display_url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.display_url, "query": self.query,
                "cursor": self.cursor, "incremental": self.incremental}  # fmt: skip

    def resolve(self, ctx: SourceContext) -> URL:
        """The URL with a relative SQLite path anchored at the workspace."""
        database = self._url.database
        sqlite = self._url.get_backend_name() == "sqlite" and database != ":memory:"
        if sqlite and database and not Path(database).is_absolute():
            return self._url.set(database=str(ctx.workspace / database))
        return self._url

    def statement(
        self, query: str, last: Any, placeholder: str, quote: Callable[[str], str]
    ) -> str:
        """The SQL this run executes: ``query``, wrapped to filter and order by the cursor."""
        if self.cursor is None:
            return query
        column = f"q.{quote(self.cursor)}"
        where = f" WHERE {column} > {placeholder}" if last is not None else ""
        return f"SELECT * FROM ({query}) AS q{where} ORDER BY {column}"

    def extract(self, ctx: SourceContext) -> Extract:
        previous = load_cursor(ctx)
        last = None
        if self.incremental and previous and previous.get("column") == self.cursor:
            last = decode_cursor(previous)
        url = self.resolve(ctx)
        spill = ParquetSpill("modelyard-sql-", ctx.scratch)
        highest: Any = None
        try:
            for batch in self._batches(url, last, ctx.settings.batch_rows):
                if self.cursor is not None and self.cursor not in batch.schema.names:
                    raise ValidationError(f"the result has no cursor column {self.cursor!r}")
                if self.cursor is not None and batch.num_rows:
                    top = pc.max(batch.column(self.cursor)).as_py()
                    highest = (
                        top if highest is None or (top is not None and top > highest) else highest
                    )
                spill.write(batch)
        except BaseException:
            spill.cleanup()
            raise
        digest = spill.digest
        if self.incremental:
            empty = spill.rows == 0
        else:
            empty = previous is not None and previous.get("digest") == digest
        return SqlExtract(self, ctx, spill, digest=digest, last=last, highest=highest, empty=empty)

    def _batches(self, url: URL, last: Any, rows: int) -> Batches:
        if url.get_backend_name() == "postgresql":
            try:
                import adbc_driver_postgresql.dbapi as adbc
            except ImportError:
                pass
            else:
                return _rebatch(self._adbc_batches(adbc, url, last), rows)
        return _rebatch(self._pandas_batches(url, last, rows), rows)

    def _adbc_batches(self, adbc: Any, url: URL, last: Any) -> Batches:
        url = url.set(drivername="postgresql")
        if "connect_timeout" not in url.query:
            timeout = str(max(1, round(self.connect_timeout_s)))
            url = url.update_query_dict({"connect_timeout": timeout})
        sql = self.statement(self.query, last, "$1", ident)
        try:
            conn = adbc.connect(url.render_as_string(hide_password=False), autocommit=True)
        except adbc.Error as exc:
            raise self._unavailable(exc) from None
        with (
            conn,
            conn.cursor() as cur,
            self._query_errors((adbc.OperationalError,), (adbc.Error,)),
        ):
            cur.execute(sql, parameters=(last,) if last is not None else None)
            reader = cur.fetch_record_batch()
            yield _plain(pa.RecordBatch.from_pylist([], schema=reader.schema))  # for no rows
            for batch in reader:
                yield _plain(batch)

    def _pandas_batches(self, url: URL, last: Any, rows: int) -> Batches:
        import pandas as pd

        connect_args: dict[str, Any] = {}
        if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
            connect_args["connect_timeout"] = max(1, round(self.connect_timeout_s))
        try:
            engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (NoSuchModuleError, ModuleNotFoundError) as exc:
            raise ConfigError(f"no database driver for {self.display_url}: {exc}") from None
        try:
            try:
                conn = engine.connect()
            except DBAPIError as exc:
                raise self._unavailable(exc) from None
            quote = engine.dialect.identifier_preparer.quote_identifier
            escaped = self.query.replace(":", r"\:")  # colons in the query are not parameters
            sql = text(self.statement(escaped, last, ":last", quote))
            params = {"last": last} if last is not None else {}
            with (
                conn,
                self._query_errors((), (DBAPIError, pd.errors.DatabaseError, pa.ArrowException)),
            ):
                chunks = pd.read_sql(
                    sql, conn.execution_options(stream_results=True), params=params,
                    chunksize=rows, dtype_backend="pyarrow",
                )  # fmt: skip
                for frame in chunks:
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    table = table.replace_schema_metadata(None)
                    yield pa.RecordBatch.from_pylist([], schema=table.schema)
                    yield from table.to_batches()
        finally:
            engine.dispose()

    @contextmanager
    def _query_errors(
        self, unavailable: tuple[type[Exception], ...], failed: tuple[type[Exception], ...]
    ) -> Iterator[None]:
        try:
            yield
        except unavailable as exc:
            raise self._unavailable(exc) from None
        except failed as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, DBAPIError) else exc
            if isinstance(cause, DBAPIError) and cause.connection_invalidated:
                raise self._unavailable(cause) from None
            raise self._failed(cause) from None

    def _unavailable(self, exc: BaseException) -> SourceUnavailableError:
        return SourceUnavailableError("source database", self.display_url, _reason(exc))

    def _failed(self, exc: BaseException) -> ValidationError:
        return ValidationError(
            f"the query on {self.display_url} failed: {_reason(exc)}",
            details={"url": self.display_url, "query": self.query, "reason": _reason(exc)},
        )


def _rebatch(batches: Batches, rows: int) -> Batches:
    """The same rows in batches of exactly ``rows`` (the last shorter), so the digest of a
    result does not depend on how the driver happened to split it. An empty result gives
    one empty batch, which carries the schema."""
    pending: list[pa.RecordBatch] = []
    count = 0
    schema: pa.Schema | None = None
    sent = False
    for batch in batches:
        schema = batch.schema
        if batch.num_rows:
            pending.append(batch)
            count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield _combined(table.slice(0, rows))
            rest = table.slice(rows)
            pending, count, sent = rest.to_batches(), rest.num_rows, True
    if count:
        yield _combined(pa.Table.from_batches(pending))
    elif schema is not None and not sent:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _combined(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """PostgreSQL types that ADBC hands over opaque, made plain: ``numeric(p, s)`` becomes
    DECIMAL(p, s), unconstrained ``numeric`` DOUBLE, anything else its text."""
    if not any(isinstance(f.type, pa.BaseExtensionType) for f in batch.schema):
        return batch
    columns = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if isinstance(field.type, pa.BaseExtensionType):
            column = column.storage
            meta = field.metadata or {}
            if meta.get(b"POSTGRESQL:type") == b"numeric":
                typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
                precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
                fits = typmod >= 4 and precision <= 38
                column = pc.cast(column, pa.decimal128(precision, scale) if fits else pa.float64())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


class SqlExtract(Extract):
    def __init__(
        self,
        source: SqlSource,
        ctx: SourceContext,
        spill: ParquetSpill,
        *,
        digest: str,
        last: Any,
        highest: Any,
        empty: bool,
    ) -> None:
        self.source = source
        self.ctx = ctx
        self.spill = spill
        self.digest = digest
        self.last = last
        self.highest = highest
        self._empty = empty

    @property
    def empty(self) -> bool:
        return self._empty

    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        self.spill.register(con, view, "SELECT NULL AS empty_result LIMIT 0")

    def lineage(self) -> dict[str, Any]:
        return {
            "kind": "sql",
            "url": self.source.display_url,
            "query": self.source.query,
            "cursor": self.source.cursor,
            "from": encode_cursor(self.last)["value"] if self.last is not None else None,
            "to": encode_cursor(self.highest)["value"] if self.highest is not None else None,
            "rows": self.spill.rows,
            "digest": self.digest,
        }

    def commit(self, conn: Connection, run_id: str) -> None:
        if self.source.incremental:
            if self.highest is not None:
                cursor = {"column": self.source.cursor, **encode_cursor(self.highest)}
                save_cursor(conn, self.ctx, run_id, cursor)
            return
        save_cursor(conn, self.ctx, run_id, {"digest": self.digest})

    def finish(self) -> None:
        self.spill.cleanup()

    def abort(self) -> None:
        self.spill.cleanup()


def sql_source(
    url: str,
    query: str,
    *,
    cursor: str | None = None,
    incremental: bool | None = None,
    connect_timeout_s: float = 5.0,
) -> SqlSource:
    """Rows of ``query`` on the database at ``url`` (see :class:`SqlSource`).

    Example:
        >>> orders = sql_source(
        ...     "postgresql+psycopg://app@db/shop",
        ...     "SELECT id, customer_id, amount, updated_at FROM orders",
        ...     cursor="updated_at",
        ... )
    """
    return SqlSource(
        url, query, cursor=cursor, incremental=incremental, connect_timeout_s=connect_timeout_s
    )
