"""A dataset version as the source of another pipeline (a derived dataset).

Incremental by default: a run reads the parts that the latest version added since the
version the pipeline loaded last (an appended dataset shares its parent's parts), and
the whole version when it was replaced. With nothing new, the run is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from modelyard.data._duck import ident, register_url, string_list
from modelyard.data._source import Extract, Source, SourceContext
from modelyard.data._spill import load_cursor, save_cursor
from modelyard.data._types import DatasetVersion, Part
from modelyard.errors import DatasetVersionNotFoundError

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy import Connection

__all__ = ["DatasetSource", "dataset_source"]


class DatasetSource(Source):
    kind: ClassVar[str] = "dataset"

    def __init__(self, dataset: str, *, incremental: bool = True) -> None:
        self.dataset = dataset
        self.incremental = incremental

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "dataset": self.dataset, "incremental": self.incremental}

    def extract(self, ctx: SourceContext) -> Extract:
        latest = ctx.datasets.get(self.dataset)
        loaded: str | None = None
        if not ctx.full_refresh:
            cursor = load_cursor(ctx)
            loaded = cursor.get("version") if cursor else None
        if loaded == latest.id:
            return DatasetExtract(ctx, latest, [], empty=True, all_parts=list(latest.parts))
        parts = list(latest.parts)
        if self.incremental and loaded is not None:
            try:
                before = ctx.datasets.get(f"{self.dataset}@{loaded}")
            except DatasetVersionNotFoundError:
                before = None
            if before is not None and latest.parts[: len(before.parts)] == before.parts:
                parts = list(latest.parts[len(before.parts) :])
        return DatasetExtract(ctx, latest, parts, empty=False, all_parts=list(latest.parts))


class DatasetExtract(Extract):
    def __init__(
        self,
        ctx: SourceContext,
        version: DatasetVersion,
        parts: list[Part],
        *,
        empty: bool,
        all_parts: list[Part],
    ) -> None:
        self.ctx = ctx
        self.version = version
        self.parts = parts
        self._empty = empty
        self.all_parts = all_parts

    @property
    def empty(self) -> bool:
        return self._empty

    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        artifacts = self.ctx.datasets.artifacts
        if artifacts.protocol:
            register_url(con, artifacts.url)
        for part in self.parts:
            artifacts.verify(part.digest)
        chosen = self.parts or self.all_parts[-1:]
        urls = string_list(artifacts.blob_url(p.digest) for p in chosen)
        limit = "" if self.parts else " LIMIT 0"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT * FROM read_parquet({urls})"
            + limit
        )

    def lineage(self) -> dict[str, Any]:
        return {
            "kind": "dataset",
            "dataset": self.version.dataset,
            "version": self.version.id,
            "number": self.version.number,
            "parts": [p.digest for p in self.parts],
        }

    def commit(self, conn: Connection, run_id: str) -> None:
        save_cursor(conn, self.ctx, run_id, {"version": self.version.id})


def dataset_source(dataset: str, *, incremental: bool = True) -> DatasetSource:
    """The latest version of ``dataset`` (its new parts only, when incremental)."""
    return DatasetSource(dataset, incremental=incremental)
