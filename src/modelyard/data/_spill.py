"""Helpers shared by the incremental sources: Arrow batches spilled to Parquet (so memory
stays bounded by one batch) and the durable cursor kept in ``pipeline_cursors``."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from modelyard._ids import now_ms
from modelyard.data._duck import ident, string_list
from modelyard.data._source import SourceContext
from modelyard.errors import ValidationError
from modelyard.store._schema import pipeline_cursors
from modelyard.store._sql import upsert

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy import Connection

__all__ = ["ParquetSpill", "decode_cursor", "encode_cursor", "load_cursor", "save_cursor"]


class ParquetSpill:
    """Arrow tables spilled to Parquet files in a temporary folder and read back by DuckDB
    as one view (``union_by_name``, so batches whose inferred types differ still combine).

    ``digest`` hashes the files: Parquet stores no bytes under nulls and no write time, so
    the same rows in the same batches give the same digest (Arrow IPC bytes would not).
    """

    def __init__(self, prefix: str, folder: Path | None = None) -> None:
        self.prefix = prefix
        self.folder = folder  # the run's scratch folder; None: the system's temp folder
        self.files: list[str] = []
        self.rows = 0
        self._hash = hashlib.sha256()
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if self._dir is None:
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
            self._dir = tempfile.TemporaryDirectory(
                prefix=self.prefix, dir=self.folder, ignore_cleanup_errors=True
            )
        path = str(Path(self._dir.name) / f"part-{len(self.files):06d}.parquet")
        pq.write_table(
            pa.Table.from_batches([table]) if isinstance(table, pa.RecordBatch) else table, path
        )
        self._hash.update(Path(path).read_bytes())
        self.files.append(path)
        self.rows += table.num_rows

    def register(self, con: duckdb.DuckDBPyConnection, view: str, empty: str) -> None:
        """Create ``view`` over the spilled files, or as ``empty`` (a SELECT) when none."""
        if not self.files:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {empty}")
            return
        scan = f"SELECT * FROM read_parquet({string_list(self.files)}, union_by_name=true)"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS {scan}")
        described = con.execute(f"DESCRIBE {ident(view)}").fetchall()
        untyped = [str(row[0]) for row in described if str(row[1]) == '"NULL"']
        if untyped:  # a column that was null everywhere: give it a real type
            casts = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in untyped)
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "
                f"SELECT * REPLACE ({casts}) FROM ({scan})"
            )

    def cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def load_cursor(ctx: SourceContext) -> dict[str, Any] | None:
    """The cursor an earlier run of this pipeline source committed (None on full refresh)."""
    if ctx.full_refresh:
        return None
    with ctx.db.read() as conn:
        found = conn.execute(
            select(pipeline_cursors.c.cursor).where(
                (pipeline_cursors.c.pipeline == ctx.pipeline)
                & (pipeline_cursors.c.source == ctx.source)
            )
        ).scalar_one_or_none()
    return dict(found) if isinstance(found, dict) else None


def save_cursor(conn: Connection, ctx: SourceContext, run_id: str, cursor: dict[str, Any]) -> None:
    """Record ``cursor`` for this pipeline source inside the caller's transaction."""
    row = {"pipeline": ctx.pipeline, "source": ctx.source, "cursor": cursor,
           "run_id": run_id, "updated_at": now_ms()}  # fmt: skip
    upsert(
        conn, pipeline_cursors, [row], ["pipeline", "source"], ["cursor", "run_id", "updated_at"]
    )


def encode_cursor(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float | str):
        return {"type": "plain", "value": value}
    raise ValidationError(f"a cursor column must hold numbers, text or times, not {value!r}")


def decode_cursor(cursor: dict[str, Any]) -> Any:
    kind, value = cursor.get("type"), cursor.get("value")
    if not isinstance(value, str):
        return value
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    return decimal.Decimal(value) if kind == "decimal" else value
