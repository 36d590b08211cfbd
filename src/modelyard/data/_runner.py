"""Running a pipeline: extract what is new, run the steps in DuckDB, check, load, commit.

One run, in order:

1. every source works out what is new (files by content hash, stream offsets, cursors);
   if no source has anything new, the run is SKIPPED and makes no version;
2. sources become DuckDB views; SQL steps become views over them (lazy, streamed);
   Arrow transforms run batch by batch into a Parquet file, so memory stays bounded by
   the batch size and DuckDB's memory limit, never by the size of the data;
3. each load is written once to a staged Parquet file, checked (one scan for every
   row-level check), split into loaded and quarantined rows, and moved into the artifact
   store; statistics are computed over the new version;
4. one metadata transaction records the versions, the sources' progress and the run.

A failure anywhere before step 4 leaves no version and no progress, so the next run reads
the same input again. Transient failures (a source or store that cannot be reached) are
retried with exponential backoff (tenacity).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import tenacity
from sqlalchemy import Connection, select, update

from modelyard._ids import new_id, now_ms
from modelyard.config import DataSettings
from modelyard.data._checks_base import CheckContext, run_checks
from modelyard.data._datasets import DatasetStore
from modelyard.data._discover import discover, find_pipeline
from modelyard.data._duck import connect, ident, literal
from modelyard.data._pipeline import Load, Pipeline
from modelyard.data._source import Extract, SourceContext
from modelyard.data._stats import relation_schema
from modelyard.data._steps import run_sql_step, run_transform
from modelyard.data._types import ColumnStats, LoadMode, Part, PipelineRun, RunStatus
from modelyard.errors import (
    CheckFailedError,
    ModelyardError,
    NotFoundError,
    ValidationError,
)
from modelyard.store import Database
from modelyard.store._schema import pipeline_runs
from modelyard.tracking import git_commit

__all__ = ["PipelineRunner", "ProgressFn"]

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


def _quiet(stage: str, done: int, total: int) -> None:
    pass


@dataclass
class _Staged:
    """A dataset version prepared by a run, waiting for the commit."""

    load: Load
    dataset: str
    kind: str
    parts: tuple[Part, ...]
    schema: list[tuple[str, str]]
    stats: list[ColumnStats]
    parent_id: str | None
    rows: int


class PipelineRunner:
    """Runs pipelines and reads their run history."""

    def __init__(
        self, db: Database, datasets: DatasetStore, settings: DataSettings, workspace: Path
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.settings = settings
        self.workspace = workspace

    # -- definitions ---------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """Where the workspace's pipeline modules live."""
        folder = Path(self.settings.pipelines_dir)
        return folder if folder.is_absolute() else self.workspace / folder

    def definitions(self) -> dict[str, Pipeline]:
        """Every pipeline the workspace defines, by name."""
        return discover(self.folder)

    def get(self, name: str) -> Pipeline:
        return find_pipeline(self.folder, name)

    # -- running -------------------------------------------------------------------------

    def run(
        self,
        pipeline: Pipeline | str,
        *,
        logical_date: str | dt.date | None = None,
        full_refresh: bool = False,
        progress: ProgressFn | None = None,
    ) -> PipelineRun:
        """Run ``pipeline`` once; returns the finished run (SUCCEEDED or SKIPPED).

        Raises the error that failed the run (after recording it): CheckFailedError,
        SourceDataError, SourceNotFoundError, SourceUnavailableError after the retries...
        """
        if isinstance(pipeline, str):
            pipeline = self.get(pipeline)
        pipeline.order()  # a broken definition fails before anything is recorded
        date = logical_date.isoformat() if isinstance(logical_date, dt.date) else logical_date
        if date is not None:
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                raise ValidationError(f"logical date {date!r} is not YYYY-MM-DD") from None
        run_id = new_id()
        code = self._code_version(pipeline)
        row: dict[str, Any] = {
            "id": run_id,
            "pipeline": pipeline.name,
            "status": str(RunStatus.RUNNING),
            "logical_date": date,
            "started_at": now_ms(),
            "ended_at": None,
            "attempts": 0,
            "code": code,
            "inputs": [],
            "outputs": [],
            "report": {},
            "error": None,
        }
        with self.db.write() as conn:
            conn.execute(pipeline_runs.insert(), [row])
        retries = self.settings.retries if pipeline.retries is None else pipeline.retries
        attempts = 0
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.settings.retry_backoff_s, max=60),
            retry=tenacity.retry_if_exception_type((ConnectionError, TimeoutError)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    self._attempt(
                        pipeline, run_id, date, full_refresh, progress or _quiet, attempts
                    )
        except ModelyardError as exc:
            report = getattr(exc, "report", {})
            self._finish(run_id, RunStatus.FAILED, attempts, error=exc.to_dict(), report=report)
            raise
        except BaseException as exc:
            error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            self._finish(run_id, RunStatus.FAILED, attempts, error=error)
            raise
        return self.get_run(run_id)

    def backfill(
        self,
        pipeline: Pipeline | str,
        start: dt.date,
        end: dt.date,
        *,
        progress: ProgressFn | None = None,
    ) -> list[PipelineRun]:
        """One run per day from ``start`` to ``end`` inclusive, oldest first."""
        if end < start:
            raise ValidationError(f"backfill range {start}..{end} ends before it starts")
        if isinstance(pipeline, str):
            pipeline = self.get(pipeline)
        runs = []
        day = start
        while day <= end:
            runs.append(self.run(pipeline, logical_date=day, progress=progress))
            day += dt.timedelta(days=1)
        return runs

    # -- history -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> PipelineRun:
        with self.db.read() as conn:
            row = (
                conn.execute(
                    select(pipeline_runs).where(pipeline_runs.c.id.startswith(run_id)).limit(2)
                )
                .mappings()
                .all()
            )
        if len(row) != 1:
            raise NotFoundError(
                f"pipeline run {run_id!r} {'is ambiguous' if row else 'does not exist'}",
                details={"run_id": run_id},
            )
        return _run(row[0])

    def runs(self, pipeline: str | None = None, *, limit: int = 50) -> list[PipelineRun]:
        """Recent runs, newest first."""
        query = select(pipeline_runs).order_by(pipeline_runs.c.started_at.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        with self.db.read() as conn:
            return [_run(r) for r in conn.execute(query).mappings()]

    # -- one attempt ---------------------------------------------------------------------

    def _attempt(
        self,
        pipeline: Pipeline,
        run_id: str,
        date: str | None,
        full_refresh: bool,
        progress: ProgressFn,
        attempts: int,
    ) -> None:
        folder = self.datasets.staging_dir() / f"run-{run_id}-{attempts}"
        folder.mkdir(parents=True)
        extracts: dict[str, Extract] = {}
        try:
            with self._connection(folder) as con:
                total = len(pipeline.sources)
                for i, (name, source) in enumerate(pipeline.sources.items()):
                    progress("extract", i, total)
                    ctx = SourceContext(
                        pipeline.name, name, self.db, self.datasets, self.settings,
                        self.workspace, date, full_refresh, folder / f"source-{name}",
                    )  # fmt: skip
                    extracts[name] = source.extract(ctx)
                progress("extract", total, total)
                inputs = [{"source": n, **e.lineage()} for n, e in extracts.items()]
                if all(e.empty for e in extracts.values()):
                    self._finish(run_id, RunStatus.SKIPPED, attempts, inputs=inputs)
                    for e in extracts.values():
                        e.abort()
                    return
                for name, e in extracts.items():
                    e.register(con, name)
                self._steps(con, pipeline, folder, date, progress)
                staged, report = self._loads(con, pipeline, folder, run_id, extracts, progress)
                progress("commit", 0, 1)
                self._commit(run_id, attempts, staged, extracts, inputs, report)
                progress("commit", 1, 1)
            for e in extracts.values():
                e.finish()
        except BaseException:
            for e in extracts.values():
                e.abort()
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def _connection(self, folder: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.settings, spill_dir=folder / "spill")
        try:
            yield con
        finally:
            con.close()

    def _steps(
        self,
        con: duckdb.DuckDBPyConnection,
        pipeline: Pipeline,
        folder: Path,
        date: str | None,
        progress: ProgressFn,
    ) -> None:
        order = pipeline.order()
        for i, step in enumerate(order):
            progress("steps", i, len(order))
            if step.kind == "sql":
                run_sql_step(con, step, date)
            else:
                run_transform(con, step, folder, date, self.settings.batch_rows)
        progress("steps", len(order), len(order))

    def _loads(
        self,
        con: duckdb.DuckDBPyConnection,
        pipeline: Pipeline,
        folder: Path,
        run_id: str,
        extracts: dict[str, Extract],
        progress: ProgressFn,
    ) -> tuple[list[_Staged], dict[str, list[dict[str, Any]]]]:
        written: dict[str, Path] = {}
        for i, load in enumerate(pipeline.loads):
            progress("load", i, len(pipeline.loads))
            path = folder / f"load-{load.dataset}.parquet"
            try:
                con.execute(
                    f"COPY (SELECT * FROM {ident(load.node)}) TO {literal(str(path))} "
                    "(FORMAT parquet, ROW_GROUP_SIZE 122880)"
                )
            except duckdb.Error as exc:
                for e in extracts.values():  # a malformed source explains it better
                    e.verify(con)
                raise ValidationError(f"loading {load.dataset!r}: {exc}") from None
            written[load.dataset] = path
        for e in extracts.values():
            e.verify(con)
        progress("load", len(pipeline.loads), len(pipeline.loads))
        staged: list[_Staged] = []
        report: dict[str, list[dict[str, Any]]] = {}
        for load in pipeline.loads:
            progress(f"check {load.dataset}", 0, 1)
            staged += self._check_and_stage(
                con, load, written[load.dataset], folder, run_id, report
            )
            progress(f"check {load.dataset}", 1, 1)
        return staged, report

    def _check_and_stage(
        self,
        con: duckdb.DuckDBPyConnection,
        load: Load,
        path: Path,
        folder: Path,
        run_id: str,
        report: dict[str, list[dict[str, Any]]],
    ) -> list[_Staged]:
        relation = f"read_parquet({literal(str(path))})"
        rows = pq.ParquetFile(path).metadata.num_rows
        prev = self.datasets.latest(load.dataset)
        append = load.mode is LoadMode.APPEND
        prev_rel = self.datasets.relation(prev, con, verify=False) if prev else None
        combined = (
            f"(SELECT * FROM {prev_rel} UNION ALL BY NAME SELECT * FROM {relation})"
            if prev_rel and append
            else None
        )
        outcome = run_checks(
            load.checks,
            CheckContext(
                con=con,
                relation=relation,
                schema=relation_schema(con, relation),
                rows=rows,
                previous=prev_rel,
                combined=combined,
                now=dt.datetime.now(dt.UTC),
            ),
        )
        report[load.dataset] = outcome.to_dict()
        if outcome.failed:
            raise CheckFailedError(
                load.dataset, [r.message or r.name for r in outcome.failed], report
            )
        out: list[_Staged] = []
        if outcome.quarantine_sql:
            good = folder / f"good-{load.dataset}.parquet"
            bad = folder / f"quarantine-{load.dataset}.parquet"
            con.execute(
                f"COPY (SELECT * FROM {relation} WHERE NOT ({outcome.quarantine_sql})) "
                f"TO {literal(str(good))} (FORMAT parquet, ROW_GROUP_SIZE 122880)"
            )
            con.execute(
                f"COPY (SELECT *, {outcome.reason_sql} AS _reason, {literal(run_id)} AS _run_id "
                f"FROM {relation} WHERE {outcome.quarantine_sql}) TO {literal(str(bad))} "
                "(FORMAT parquet)"
            )
            path = good
            out += self._stage(con, load, load.quarantine, "quarantine", bad, append=True)
        out += self._stage(con, load, load.dataset, "data", path, append=append)
        return out

    def _stage(
        self,
        con: duckdb.DuckDBPyConnection,
        load: Load,
        dataset: str,
        kind: str,
        path: Path,
        *,
        append: bool,
    ) -> list[_Staged]:
        rows = pq.ParquetFile(path).metadata.num_rows
        if rows == 0:
            return []
        prev = self.datasets.latest(dataset)
        base = prev.parts if append and prev else ()
        part, schema, stats = self.datasets.stage(con, path, base)
        parts = (*base, part)
        return [_Staged(load, dataset, kind, parts, schema, stats, prev.id if prev else None, rows)]

    def _commit(
        self,
        run_id: str,
        attempts: int,
        staged: list[_Staged],
        extracts: dict[str, Extract],
        inputs: list[dict[str, Any]],
        report: dict[str, list[dict[str, Any]]],
    ) -> None:
        outputs: list[dict[str, Any]] = []
        with self.db.write() as conn:
            for s in staged:
                version = self.datasets.commit(
                    conn,
                    s.dataset,
                    s.parts,
                    s.schema,
                    s.stats,
                    run_id=run_id,
                    kind=s.kind,
                    parent_id=s.parent_id,
                    check_parent=True,
                )
                outputs.append(
                    {
                        "dataset": s.dataset,
                        "kind": s.kind,
                        "version": version.id,
                        "number": version.number,
                        "rows_added": s.rows,
                        "rows": version.rows,
                    }
                )
            for e in extracts.values():
                e.commit(conn, run_id)
            _end(conn, run_id, RunStatus.SUCCEEDED, attempts, inputs=inputs, outputs=outputs,
                 report=report)  # fmt: skip

    def _finish(self, run_id: str, status: RunStatus, attempts: int, **values: Any) -> None:
        with self.db.write() as conn:
            _end(conn, run_id, status, attempts, **values)

    def _code_version(self, pipeline: Pipeline) -> dict[str, Any]:
        code: dict[str, Any] = {"module": pipeline.module, "digest": None, "git_commit": None}
        if pipeline.module:
            path = Path(pipeline.module)
            with contextlib.suppress(OSError):
                code["digest"] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            code["git_commit"] = git_commit(path.parent)
        return code


def _end(conn: Connection, run_id: str, status: RunStatus, attempts: int, **values: Any) -> None:
    """Record how run ``run_id`` ended (inputs, outputs, report or error in ``values``)."""
    conn.execute(
        update(pipeline_runs)
        .where(pipeline_runs.c.id == run_id)
        .values(status=str(status), ended_at=now_ms(), attempts=attempts, **values)
    )


def _run(row: Any) -> PipelineRun:
    return PipelineRun(
        id=row["id"],
        pipeline=row["pipeline"],
        status=RunStatus(row["status"]),
        logical_date=row["logical_date"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        attempts=row["attempts"],
        code=row["code"],
        inputs=row["inputs"],
        outputs=row["outputs"],
        report=row["report"],
        error=row["error"],
    )
