"""The source contract: what a pipeline source implements.

A :class:`Source` is declared in a pipeline module; each run asks it to ``extract``, which
returns an :class:`Extract`: the rows this run reads (registered as a DuckDB view) and the
bookkeeping that makes runs incremental and exactly-once. The runner calls, in order:

1. ``extract(ctx)`` -- decide what is new (by content hash, offset or cursor);
2. ``register(con, view)`` -- expose those rows to DuckDB under ``view``;
3. ``verify(con)`` -- after the rows were scanned, raise on malformed data;
4. ``commit(conn, run_id)`` -- inside the transaction that records the dataset version,
   mark what was read as done (seen files, stream offset, cursor);
5. ``finish()`` -- after that transaction committed (acknowledge a stream), or
   ``abort()`` when the run failed; both also release what ``extract`` held.

A crash anywhere before step 4 commits leaves no trace: the next run reads the same input
again. A crash between 4 and 5 is harmless because 4 moved the durable cursor.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import duckdb
    from sqlalchemy import Connection

    from modelyard.config import DataSettings
    from modelyard.data._datasets import DatasetStore
    from modelyard.store import Database

__all__ = ["Extract", "Source", "SourceContext"]


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source may use during one run."""

    pipeline: str
    source: str  # the source's name in the pipeline (also its DuckDB view)
    db: Database  # the metadata database: incremental state lives there
    datasets: DatasetStore
    settings: DataSettings
    workspace: Path  # relative paths resolve against it
    logical_date: str | None  # YYYY-MM-DD of a scheduled or backfilled run
    full_refresh: bool  # ignore what earlier runs read
    scratch: Path | None = None  # the run's own folder for temporary files (removed after)


class Extract(abc.ABC):
    """What one source reads in one run."""

    @property
    @abc.abstractmethod
    def empty(self) -> bool:
        """True when the source has nothing new for this run."""

    @abc.abstractmethod
    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        """Make this run's rows readable in ``con`` as the view ``view``."""

    def verify(self, con: duckdb.DuckDBPyConnection) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~modelyard.errors.SourceDataError` for malformed data found while
        the rows were scanned."""

    @abc.abstractmethod
    def lineage(self) -> dict[str, Any]:
        """What was read, as JSON for the run's inputs: ``{"kind": ..., ...}`` with file
        URIs and sha256 digests, stream offsets, cursors or dataset versions."""

    @abc.abstractmethod
    def commit(self, conn: Connection, run_id: str) -> None:
        """Inside the version's transaction: record what was read as done."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """After the transaction committed (acknowledge, clean up)."""

    def abort(self) -> None:  # noqa: B027 - optional hook
        """The run failed or was skipped; release what ``extract`` held."""


class Source(abc.ABC):
    """A declared source of a pipeline (files, a SQL query, a stream, a dataset)."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def extract(self, ctx: SourceContext) -> Extract:
        """Work out what this run reads; raise SourceNotFoundError or
        SourceUnavailableError when the source cannot be read at all."""

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON (shown by ``modelyard data show``)."""
        return {"kind": self.kind}
