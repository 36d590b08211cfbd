"""Datasets: immutable, content-addressed versions of Parquet parts.

A version is an ordered list of Parquet parts held in the artifact store; its id is the
sha256 of the part digests, so the same content always gets the same id, and re-loading
unchanged data makes no new version. An appended version shares its parent's parts and
adds one. The metadata row is written in one transaction after every part is stored, so
a crash or a failed check leaves no partial version, only unreferenced blobs.

References name a version: ``transactions`` or ``transactions@latest`` (the newest),
``transactions@v3`` (the third), ``transactions@9f2c4e1a`` (an id prefix, 6+ digits).
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, func, select

from modelyard._ids import now_ms
from modelyard.data._duck import register_url, string_list
from modelyard.data._stats import column_stats, relation_schema
from modelyard.data._types import ColumnStats, DatasetSummary, DatasetVersion, Part
from modelyard.errors import (
    ConflictError,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    ValidationError,
)
from modelyard.store import ArtifactStore, Database, hash_file
from modelyard.store._schema import dataset_versions, datasets
from modelyard.store._sql import insert_ignore

if TYPE_CHECKING:
    from modelyard.config import DataSettings

__all__ = ["DatasetStore", "parse_ref", "version_id"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")
_ROW_GROUP = 122_880


def version_id(parts: Sequence[Part]) -> str:
    """The content id of a version made of ``parts`` in this order."""
    return hashlib.sha256("\n".join(p.digest for p in parts).encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            f"dataset name {name!r} must start with a letter and hold only letters, digits, "
            "'_', '-' and '.' (at most 255)"
        )
    return name


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``name[@version]`` into name and version selector (``latest`` if absent)."""
    name, _, version = ref.partition("@")
    return check_name(name), version or "latest"


class DatasetStore:
    """Versions of datasets in the metadata database, their parts in the artifact store.

    Example:
        >>> version = ws.datasets.write("transactions", table)
        >>> ws.datasets.read("transactions@latest").num_rows
    """

    def __init__(
        self, db: Database, artifacts: ArtifactStore, settings: DataSettings, scratch: Path
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.scratch = scratch

    # -- reading -------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(select(datasets.c.name).order_by(datasets.c.name)).scalars())

    def list(self) -> list[DatasetSummary]:
        """Every dataset with its number of versions and its latest version."""
        with self.db.read() as conn:
            kinds = dict(conn.execute(select(datasets.c.name, datasets.c.kind)).all())
            latest = (
                select(dataset_versions.c.dataset, func.max(dataset_versions.c.number))
                .group_by(dataset_versions.c.dataset)
                .subquery()
            )
            rows = conn.execute(
                select(dataset_versions).join(
                    latest,
                    (latest.c.dataset == dataset_versions.c.dataset)
                    & (latest.c[1] == dataset_versions.c.number),
                )
            ).mappings()
            by_name = {row["dataset"]: _version(row) for row in rows}
        return [
            DatasetSummary(
                name, kinds[name], by_name[name].number if name in by_name else 0, by_name.get(name)
            )
            for name in sorted(kinds)
        ]

    def get(self, ref: str) -> DatasetVersion:
        """The version ``ref`` names (see the module docstring)."""
        name, selector = parse_ref(ref)
        with self.db.read() as conn:
            return self._get(conn, name, selector)

    def latest(self, name: str) -> DatasetVersion | None:
        """The newest version of ``name``, or None if it has none (or does not exist)."""
        with self.db.read() as conn:
            return self._latest(conn, check_name(name))

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        """Every version of ``name``, oldest first."""
        with self.db.read() as conn:
            self._require(conn, name)
            rows = conn.execute(
                select(dataset_versions)
                .where(dataset_versions.c.dataset == name)
                .order_by(dataset_versions.c.number)
            ).mappings()
            return [_version(row) for row in rows]

    def urls(self, version: DatasetVersion, *, verify: bool = True) -> builtins.list[str]:
        """Where the parts of ``version`` are, checked against their digests first."""
        if verify:
            for part in version.parts:
                self.artifacts.verify(part.digest)
        return [self.artifacts.blob_url(part.digest) for part in version.parts]

    def relation(
        self, version: DatasetVersion, con: duckdb.DuckDBPyConnection, *, verify: bool = True
    ) -> str:
        """A DuckDB FROM-clause expression that reads ``version``."""
        if self.artifacts.protocol:
            register_url(con, self.artifacts.url)
        return f"read_parquet({string_list(self.urls(version, verify=verify))})"

    def read(self, ref: str | DatasetVersion, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of a version as one Arrow table (for data that fits in memory)."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        tables = []
        for part in version.parts:
            self.artifacts.verify(part.digest)
            with self.artifacts.open(part.digest) as f:
                tables.append(pq.read_table(f, columns=list(columns) if columns else None))
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")

    def batches(
        self, ref: str | DatasetVersion, batch_rows: int = _ROW_GROUP
    ) -> Iterable[pa.RecordBatch]:
        """The rows of a version as Arrow record batches (memory bounded by batch size)."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        for part in version.parts:
            self.artifacts.verify(part.digest)
            with self.artifacts.open(part.digest) as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_rows)

    # -- writing -------------------------------------------------------------------------

    def write(
        self,
        name: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        append: bool = False,
        run_id: str | None = None,
    ) -> DatasetVersion:
        """Store ``data`` as a new version of ``name`` (after the latest one with
        ``append``); returns the existing version if the content is unchanged."""
        from modelyard.data._duck import connect

        check_name(name)
        staging = self.staging_dir()
        path = staging / f"write-{now_ms()}-{id(data)}.parquet"
        try:
            schema = data.schema
            with pq.ParquetWriter(path, schema) as writer:
                if isinstance(data, pa.Table):
                    writer.write_table(data, row_group_size=_ROW_GROUP)
                else:
                    for batch in data:
                        writer.write_batch(batch)
            part = self.store_part(path)
            con = connect(self.settings)
            try:
                with self.db.write() as conn:
                    prev = self._latest(conn, name)
                    parts = (*prev.parts, part) if append and prev else (part,)
                    schema_, stats = self.describe(con, parts)
                    return self.commit(conn, name, parts, schema_, stats, run_id=run_id)
            finally:
                con.close()
        finally:
            path.unlink(missing_ok=True)

    def staging_dir(self) -> Path:
        """A local folder for files on their way into the store (on the store's disk when
        the store is local, so that they are renamed, not copied, into place)."""
        root = self.artifacts.local_root
        folder = root / ".staging" if root else self.scratch / "staging"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def store_part(self, path: Path) -> Part:
        """Move the Parquet file at ``path`` into the artifact store as a part."""
        rows = pq.ParquetFile(path).metadata.num_rows
        blob = self.artifacts.put_file(path, move=True)
        return Part(blob.digest, rows, blob.size)

    def stage(
        self, con: duckdb.DuckDBPyConnection, path: Path, base: Sequence[Part] = ()
    ) -> tuple[Part, builtins.list[tuple[str, str]], builtins.list[ColumnStats]]:
        """Move the Parquet file at ``path`` into the store as a part following ``base``;
        returns it with the schema and statistics of ``base`` plus it. The file is hashed
        in a thread while DuckDB computes the statistics (hashlib releases the GIL)."""
        rows = pq.ParquetFile(path).metadata.num_rows
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-hash") as pool:
            hashed = pool.submit(hash_file, path)
            urls = [self.artifacts.blob_url(p.digest) for p in base] + [str(path)]
            schema, stats = self._describe(con, urls)
            blob = hashed.result()
        self.artifacts.put_file(path, move=True, blob=blob)
        return Part(blob.digest, rows, blob.size), schema, stats

    def describe(
        self, con: duckdb.DuckDBPyConnection, parts: Sequence[Part]
    ) -> tuple[builtins.list[tuple[str, str]], builtins.list[ColumnStats]]:
        """Schema and column statistics of a version made of ``parts``."""
        return self._describe(con, [self.artifacts.blob_url(p.digest) for p in parts])

    def _describe(
        self, con: duckdb.DuckDBPyConnection, urls: Sequence[str]
    ) -> tuple[builtins.list[tuple[str, str]], builtins.list[ColumnStats]]:
        if self.artifacts.protocol:
            register_url(con, self.artifacts.url)
        relation = f"read_parquet({string_list(urls)})"
        schema = relation_schema(con, relation)
        return schema, column_stats(con, relation, schema)

    def commit(
        self,
        conn: Connection,
        name: str,
        parts: Sequence[Part],
        schema: Sequence[tuple[str, str]],
        stats: Sequence[ColumnStats],
        *,
        run_id: str | None = None,
        kind: str = "data",
        parent_id: str | None = None,
        check_parent: bool = False,
    ) -> DatasetVersion:
        """Record a version made of ``parts`` inside the caller's transaction ``conn``.

        Returns the latest version unchanged if it already has this content. With
        ``check_parent``, the latest version must still be ``parent_id`` (None: no
        version yet): it guards a version prepared from a parent that another run has
        since moved on from.
        """
        if not parts:
            raise ValidationError(f"a version of dataset {name!r} needs at least one part")
        prev = self._latest(conn, name)
        if check_parent and (prev.id if prev else None) != parent_id:
            raise ConflictError(
                f"dataset {name!r} gained a version while this one was prepared; run again",
                details={"dataset": name},
            )
        vid = version_id(parts)
        if prev is not None and prev.id == vid:
            return prev
        existing = (
            conn.execute(
                select(dataset_versions).where(
                    (dataset_versions.c.dataset == name) & (dataset_versions.c.id == vid)
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:  # the same content as an older version: reuse its id
            return _version(existing)
        insert_ignore(
            conn, datasets, [{"name": name, "kind": kind, "created_at": now_ms()}], ["name"]
        )
        row = {
            "dataset": name,
            "number": (prev.number if prev else 0) + 1,
            "id": vid,
            "parent_id": prev.id if prev else None,
            "run_id": run_id,
            "rows": sum(p.rows for p in parts),
            "size": sum(p.size for p in parts),
            "schema": [[n, t] for n, t in schema],
            "stats": [s.to_dict() for s in stats],
            "parts": [p.to_dict() for p in parts],
            "created_at": now_ms(),
        }
        conn.execute(dataset_versions.insert(), [row])
        return _version(row)

    # -- helpers -------------------------------------------------------------------------

    def _require(self, conn: Connection, name: str) -> None:
        found = conn.execute(select(datasets.c.name).where(datasets.c.name == name)).first()
        if found is None:
            known = list(conn.execute(select(datasets.c.name).order_by(datasets.c.name)).scalars())
            raise DatasetNotFoundError(name, known)

    def _latest(self, conn: Connection, name: str) -> DatasetVersion | None:
        row = (
            conn.execute(
                select(dataset_versions)
                .where(dataset_versions.c.dataset == name)
                .order_by(dataset_versions.c.number.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _version(row) if row is not None else None

    def _get(self, conn: Connection, name: str, selector: str) -> DatasetVersion:
        self._require(conn, name)
        query = select(dataset_versions).where(dataset_versions.c.dataset == name)
        if selector == "latest":
            version = self._latest(conn, name)
            if version is None:
                raise DatasetVersionNotFoundError(name, selector)
            return version
        if re.fullmatch(r"v\d+", selector):
            query = query.where(dataset_versions.c.number == int(selector[1:]))
        elif re.fullmatch(r"[0-9a-f]{6,64}", selector):
            query = query.where(dataset_versions.c.id.startswith(selector))
        else:
            raise ValidationError(
                f"{selector!r} is not a dataset version: use latest, v<number> or an id "
                "prefix of at least 6 hex digits"
            )
        rows = conn.execute(query.limit(2)).mappings().all()
        if len(rows) != 1:
            if len(rows) > 1:
                raise ValidationError(f"version prefix {selector!r} of {name!r} is ambiguous")
            raise DatasetVersionNotFoundError(name, selector)
        return _version(rows[0])


def _version(row: Any) -> DatasetVersion:
    return DatasetVersion(
        dataset=row["dataset"],
        number=row["number"],
        id=row["id"],
        parent_id=row["parent_id"],
        run_id=row["run_id"],
        rows=row["rows"],
        size=row["size"],
        schema=tuple((n, t) for n, t in row["schema"]),
        stats=tuple(ColumnStats.from_dict(s) for s in row["stats"]),
        parts=tuple(Part(**p) for p in row["parts"]),
        created_at=row["created_at"],
    )
