"""CSV and Parquet file sources: local paths or any fsspec URL, globs, hive partitions.

Every matching file is hashed (sha256, streamed); a file whose content an earlier run of
the pipeline already loaded is skipped, so re-running over unchanged inputs does nothing
and a new file is loaded exactly once. DuckDB reads the new files in one scan; malformed
CSV lines are collected by DuckDB's reject tables and reported with file and line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import fsspec
from sqlalchemy import select

from modelyard._ids import now_ms
from modelyard.data._duck import ident, literal, register_url, string_list
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.errors import SourceDataError, SourceNotFoundError, ValidationError
from modelyard.store._schema import pipeline_seen
from modelyard.store._sql import insert_ignore

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy import Connection

__all__ = ["FileSource", "SourceFile", "csv_source", "parquet_source"]

_CHUNK = 4 << 20
_GLOB = set("*?[")


@dataclass(frozen=True, slots=True)
class SourceFile:
    uri: str
    digest: str  # sha256 of the content
    size: int
    key: str = ""  # what marks it loaded: the digest, with hive partition values if any

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "digest": self.digest, "size": self.size}


def _hash(fs: fsspec.AbstractFileSystem, path: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


class FileSource(Source):
    """Files matching ``pattern``: a path, glob or fsspec URL, relative to the workspace
    unless absolute. ``{ds}`` in the pattern is the run's logical date (YYYY-MM-DD), or
    every date when the run has none, which is how backfills select partitions.

    Args:
        columns: declared column types (DuckDB names: ``BIGINT``, ``DOUBLE``,
            ``VARCHAR``, ``TIMESTAMP``...); values that do not convert are errors.
        hive_partitioning: read ``key=value`` folders as columns (default: detect).
        incremental: load only files not loaded before (by content hash); when False,
            every run reads every file, and a run happens only when some file changed.
        options: further options for DuckDB's ``read_csv`` / ``read_parquet``.
    """

    kind: ClassVar[str] = "files"

    def __init__(
        self,
        pattern: str,
        *,
        format: str,
        columns: Mapping[str, str] | None = None,
        hive_partitioning: bool | None = None,
        incremental: bool = True,
        options: Mapping[str, Any] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if format not in ("csv", "parquet"):
            raise ValidationError(f"file format must be csv or parquet, not {format!r}")
        if not pattern:
            raise ValidationError("a file source needs a path or glob")
        self.pattern = pattern
        self.format = format
        self.columns = dict(columns or {})
        self.hive_partitioning = hive_partitioning
        self.incremental = incremental
        self.options = dict(options or {})
        self.storage_options = dict(storage_options or {})

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "pattern": self.pattern,
            "columns": self.columns,
            "incremental": self.incremental,
        }

    def resolve(self, ctx: SourceContext) -> str:
        pattern = self.pattern.replace("{ds}", ctx.logical_date or "*")
        protocol = fsspec.core.split_protocol(pattern)[0]
        if protocol is None and not Path(pattern).is_absolute():
            return str(ctx.workspace / pattern)
        return pattern

    def extract(self, ctx: SourceContext) -> Extract:
        url = self.resolve(ctx)
        fs, path = fsspec.core.url_to_fs(url, **self.storage_options)
        if _GLOB & set(path):
            paths = sorted(p for p in fs.glob(path) if fs.isfile(p))
        else:
            paths = [path] if fs.isfile(path) else []
        if not paths:
            raise SourceNotFoundError(url)
        files: dict[str, SourceFile] = {}
        for p in paths:
            digest, size = _hash(fs, p)
            uri = p if fs.protocol in ("file", ("file", "local")) else fs.unstrip_protocol(p)
            # the same bytes are read once, unless hive partition folders make them differ
            key = self._key(digest, p)
            files.setdefault(key, SourceFile(uri, digest, size, key))
        seen: set[str] = set()
        if not ctx.full_refresh:
            with ctx.db.read() as conn:
                seen = set(
                    conn.execute(
                        select(pipeline_seen.c.digest).where(
                            (pipeline_seen.c.pipeline == ctx.pipeline)
                            & (pipeline_seen.c.source == ctx.source)
                            & pipeline_seen.c.digest.in_(list(files))
                        )
                    ).scalars()
                )
        new = [f for key, f in files.items() if key not in seen]
        if self.incremental:
            return FileExtract(self, ctx, read=new, new=new, skipped=len(files) - len(new), url=url)
        return FileExtract(self, ctx, read=list(files.values()), new=new, skipped=0, url=url)

    def _key(self, digest: str, path: str) -> str:
        """What identifies a file's rows: its content, plus its hive partition values."""
        partitions = [part for part in path.split("/")[:-1] if "=" in part]
        if not partitions or self.hive_partitioning is False:
            return digest
        keyed = hashlib.sha256(f"{digest}\n{'/'.join(partitions)}".encode()).hexdigest()
        return "sha256:" + keyed

    def scan_sql(self, uris: Sequence[str], rejects: str) -> str:
        """The DuckDB table function that reads ``uris``."""
        args = [string_list(uris)]
        if self.hive_partitioning is not None:
            args.append(f"hive_partitioning={literal(self.hive_partitioning)}")
        if self.format == "csv":
            args.append("header=true")
            if self.columns:
                cols = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in self.columns.items())
                args.append(f"columns={{{cols}}}")
            args.append(f"store_rejects=true, rejects_table={literal(rejects)}")
            args.append(f"rejects_scan={literal(rejects + '_scan')}")
        for key, value in self.options.items():
            args.append(f"{key}={literal(value)}")
        function = "read_csv" if self.format == "csv" else "read_parquet"
        return f"{function}({', '.join(args)})"


class FileExtract(Extract):
    def __init__(
        self,
        source: FileSource,
        ctx: SourceContext,
        *,
        read: list[SourceFile],
        new: list[SourceFile],
        skipped: int,
        url: str,
    ) -> None:
        self.source = source
        self.ctx = ctx
        self.read = read
        self.new = new
        self.skipped = skipped
        self.url = url
        self.rejects = f"rejects_{ctx.source}"
        self._probe: str | None = None  # a file that gives the schema of an empty read

    @property
    def empty(self) -> bool:
        return not self.new

    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        register_url(con, self.url, **self.source.storage_options)
        if self.read:
            scan = self.source.scan_sql([f.uri for f in self.read], self.rejects)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT * FROM {scan}")
            self._check_declared(con, view)
            return
        # nothing new: an empty view with the files' schema, so downstream SQL still binds
        fs, path = fsspec.core.url_to_fs(self.url, **self.source.storage_options)
        probe = sorted(p for p in fs.glob(path) if fs.isfile(p))[-1]
        uri = probe if fs.protocol in ("file", ("file", "local")) else fs.unstrip_protocol(probe)
        scan = self.source.scan_sql([uri], self.rejects + "_probe")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT * FROM {scan} LIMIT 0")

    def _check_declared(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        if self.source.format != "parquet" or not self.source.columns:
            return
        rel = con.sql(f"SELECT * FROM {ident(view)} LIMIT 0")
        actual = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
        for name, declared in self.source.columns.items():
            if name not in actual:
                raise SourceDataError(self.url, f"column {name!r} is missing")
            if actual[name].upper() != declared.upper():
                raise SourceDataError(
                    self.url, f"column {name!r} is {actual[name]}, declared {declared.upper()}"
                )

    def verify(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.source.format != "csv" or not self.read:
            return
        if not _has_table(con, self.rejects):
            return
        errors, scans = ident(self.rejects), ident(self.rejects + "_scan")
        row = con.execute(
            "SELECT s.file_path, e.line, e.column_name, e.error_type, e.csv_line, "
            f"e.error_message FROM {errors} e JOIN {scans} s USING (scan_id, file_id) "
            "ORDER BY e.line LIMIT 1"
        ).fetchone()
        if row is None:
            return
        path, line, column, kind, text, message = row
        reason = message if not column else f"column {column!r}: {message}"
        raise SourceDataError(
            f"{path}:{line}", f"{str(kind).lower().replace('_', ' ')}: {reason}", line=text
        )

    def lineage(self) -> dict[str, Any]:
        return {
            "kind": "files",
            "format": self.source.format,
            "pattern": self.source.pattern,
            "files": [f.to_dict() for f in self.read],
            "skipped": self.skipped,
        }

    def commit(self, conn: Connection, run_id: str) -> None:
        rows = [
            {
                "pipeline": self.ctx.pipeline,
                "source": self.ctx.source,
                "digest": f.key,
                "uri": f.uri,
                "run_id": run_id,
                "created_at": now_ms(),
            }
            for f in self.new
        ]
        insert_ignore(conn, pipeline_seen, rows, ["pipeline", "source", "digest"])


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]
    ).fetchone()
    return bool(found and found[0])


def csv_source(pattern: str, **options: Any) -> FileSource:
    """CSV files (see :class:`FileSource` for the options)."""
    return FileSource(pattern, format="csv", **options)


def parquet_source(pattern: str, **options: Any) -> FileSource:
    """Parquet files (see :class:`FileSource` for the options)."""
    return FileSource(pattern, format="parquet", **options)
