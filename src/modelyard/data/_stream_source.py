"""The stream source: events of a stream not loaded before, as rows of a pipeline.

Loaded rows have a column per payload field plus ``_event_id`` (VARCHAR: the embedded
table's integer id, or the Redis entry id) and ``_event_time`` (TIMESTAMP, UTC: when the
event was appended); payload fields of those two names are dropped. Batches are spilled to
Parquet in the run's folder, so memory stays bounded by one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import orjson
import pyarrow as pa

from modelyard.data._duck import ident
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.data._spill import ParquetSpill, load_cursor, save_cursor
from modelyard.data._streams import (
    Reading,
    StreamBatch,
    StreamEvent,
    StreamLog,
    mask_url,
    open_stream,
)
from modelyard.errors import SourceDataError, SourceUnavailableError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy import Connection


__all__ = ["StreamExtract", "StreamSource", "stream_source"]

log = logging.getLogger(__name__)

_SYSTEM = ("_event_id", "_event_time")


def _column(values: list[Any]) -> pa.Array:
    """Values of one event field as an Arrow array; mixed types become text (JSON text for
    anything that is not a string)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(
            [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values],
            pa.string(),
        )


def _to_table(
    stream: str, events: Sequence[StreamEvent], columns: Mapping[str, str],
    con: duckdb.DuckDBPyConnection,
) -> pa.Table:  # fmt: skip
    """Events as one Arrow table: a column per field (``columns`` cast to their declared
    DuckDB types), then ``_event_id`` and ``_event_time``."""
    keys = dict.fromkeys(k for event in events for k in event.payload if k not in _SYSTEM)
    keys.update(dict.fromkeys(k for k in columns if k not in keys))
    arrays = [_column([event.payload.get(key) for event in events]) for key in keys]
    times = pa.array([event.time_ms for event in events], pa.int64()).cast(pa.timestamp("ms"))
    arrays += [
        pa.array([event.id for event in events], pa.string()),
        times.cast(pa.timestamp("us")),
    ]
    table = pa.Table.from_arrays(arrays, names=[*keys, *_SYSTEM])
    return _cast(stream, table, columns, con) if columns else table


def _cast(
    stream: str, table: pa.Table, columns: Mapping[str, str], con: duckdb.DuckDBPyConnection
) -> pa.Table:
    con.register("_events", table)
    try:
        for name, type_ in columns.items():
            column = ident(name)
            bad = con.execute(
                f"SELECT _event_id, CAST({column} AS VARCHAR) FROM _events WHERE {column} "
                f"IS NOT NULL AND TRY_CAST({column} AS {type_}) IS NULL LIMIT 1"
            ).fetchall()
            if bad:
                (event_id, value), *_ = bad
                raise SourceDataError(
                    f"stream {stream!r} event {event_id}",
                    f"field {name!r}: {value!r} is not {type_}",
                )
        casts = ", ".join(f"TRY_CAST({ident(n)} AS {t}) AS {ident(n)}" for n, t in columns.items())
        return con.sql(f"SELECT * REPLACE ({casts}) FROM _events").to_arrow_table()
    except duckdb.Error as exc:
        raise ValidationError(
            f"stream {stream!r}: cannot apply the declared columns: {exc}"
        ) from None
    finally:
        con.unregister("_events")


class StreamSource(Source):
    """Events of the stream ``stream`` appended since the last run.

    Args:
        url: ``redis://...`` for a Redis Stream, ``""`` for the embedded stream; None (the
            default) follows the workspace's ``[data] stream_url``.
        group: the Redis consumer group. Pipelines that share a group share the events
            (each goes to one of them); give each pipeline its own group to let each see all.
        max_events: load at most this many events per run (the rest waits for the next).
        columns: declared DuckDB types of payload fields (``BIGINT``, ``DOUBLE``,
            ``VARCHAR``, ``TIMESTAMP``...); a value that does not convert is an error.
            Undeclared fields keep the inferred type (text where events disagree).
    """

    kind: ClassVar[str] = "stream"

    def __init__(
        self, stream: str, *, url: str | None = None, group: str = "modelyard",
        max_events: int | None = None, columns: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        if not stream:
            raise ValidationError("a stream source needs a stream name")
        if not group:
            raise ValidationError("a stream source needs a consumer group name")
        if max_events is not None and max_events < 1:
            raise ValidationError(f"max_events must be at least 1, not {max_events}")
        reserved = set(columns or {}) & set(_SYSTEM)
        if reserved:
            raise ValidationError(f"{', '.join(sorted(reserved))} cannot be declared: it is added")
        self.stream = stream
        self.url = url
        self.group = group
        self.max_events = max_events
        self.columns = dict(columns or {})

    def describe(self) -> dict[str, Any]:
        url = None if self.url is None else mask_url(self.url)
        return {"kind": self.kind, "stream": self.stream, "url": url, "group": self.group,
                "max_events": self.max_events, "columns": self.columns}  # fmt: skip

    def extract(self, ctx: SourceContext) -> Extract:
        stream = open_stream(self.stream, db=ctx.db, settings=ctx.settings, url=self.url)
        cursor = load_cursor(ctx) or {}
        same = cursor.get("backend") == stream.backend and cursor.get("stream") == self.stream
        after = str(cursor["last_id"]) if same and "last_id" in cursor else None
        reading = Reading(
            after, self.group, f"{ctx.pipeline}:{ctx.source}",  # a restart finds its entries
            ctx.settings.batch_rows, self.max_events, ctx.full_refresh,
        )  # fmt: skip
        extract = StreamExtract(self, ctx, stream)
        scratch = duckdb.connect()
        try:
            for batch in stream.read(reading):
                extract.add(batch, _to_table(self.stream, batch.events, self.columns, scratch))
        except BaseException:
            extract.release()
            raise
        finally:
            scratch.close()
        return extract


class StreamExtract(Extract):
    def __init__(self, source: StreamSource, ctx: SourceContext, stream: StreamLog) -> None:
        self.source = source
        self.ctx = ctx
        self.stream = stream
        self.spill = ParquetSpill("modelyard-stream-", ctx.scratch)
        self.events = 0
        self.first_id: str | None = None
        self.last_id: str | None = None
        self.pending: list[str] = []
        self.stale: list[str] = []

    def add(self, batch: StreamBatch, table: pa.Table) -> None:
        self.pending += batch.pending
        self.stale += batch.stale
        if batch.events:
            self.spill.write(table)
            self.events += len(batch.events)
            self.first_id = self.first_id or batch.events[0].id
            self.last_id = batch.events[-1].id

    @property
    def empty(self) -> bool:
        return self.events == 0

    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        declared = [f"NULL::{t} AS {ident(n)}" for n, t in self.source.columns.items()]
        system = ["NULL::VARCHAR AS _event_id", "NULL::TIMESTAMP AS _event_time"]
        self.spill.register(con, view, f"SELECT {', '.join(declared + system)} LIMIT 0")

    def lineage(self) -> dict[str, Any]:
        return {"kind": "stream", "backend": self.stream.backend, "stream": self.source.stream,
                "group": self.source.group, "first_id": self.first_id, "last_id": self.last_id,
                "events": self.events}  # fmt: skip

    def commit(self, conn: Connection, run_id: str) -> None:
        if self.last_id is not None:
            cursor = {"backend": self.stream.backend, "stream": self.source.stream,
                      "last_id": self.last_id}  # fmt: skip
            save_cursor(conn, self.ctx, run_id, cursor)

    def finish(self) -> None:
        self._ack(self.pending + self.stale)
        self.release()

    def abort(self) -> None:
        self._ack(self.stale)  # loaded by an earlier run: safe to acknowledge whatever happens
        self.release()

    def _ack(self, ids: list[str]) -> None:
        try:
            self.stream.ack(self.source.group, ids)
        except SourceUnavailableError as exc:  # the cursor is durable: the next run drops them
            log.warning(
                "could not acknowledge %d events of %s: %s", len(ids), self.source.stream, exc
            )

    def release(self) -> None:
        self.spill.cleanup()
        self.stream.close()


def stream_source(
    stream: str,
    *,
    url: str | None = None,
    group: str = "modelyard",
    max_events: int | None = None,
    columns: Mapping[str, str] | None = None,
) -> StreamSource:
    """Events of ``stream`` not loaded before (see :class:`StreamSource`).

    Example:
        >>> clicks = stream_source("clicks", columns={"user": "BIGINT", "at": "TIMESTAMP"})
    """
    return StreamSource(stream, url=url, group=group, max_events=max_events, columns=columns)
