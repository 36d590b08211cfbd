"""Persistence of experiments and runs: the only place tracking writes SQL.

Metrics are append-only rows in ``metrics``; ``latest_metrics`` keeps, per run and key, the
value with the highest (step, timestamp), maintained by a conditional upsert in the same
transaction, so search and ``runs list`` never scan the full history.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, and_, bindparam, or_, select, update

from modelyard._ids import new_id, now_ms
from modelyard.errors import (
    ExperimentNotFoundError,
    ParamConflictError,
    RunNotActiveError,
    RunNotFoundError,
    ValidationError,
)
from modelyard.store import ArtifactStore, Blob, Database
from modelyard.store._schema import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    run_inputs,
    run_tags,
    runs,
)
from modelyard.store._sql import insert_ignore, upsert
from modelyard.tracking._filter import (
    apply_order_by,
    compile_filter,
    drives_search,
    not_narrowing,
    parse_filter,
    parse_order_by,
)
from modelyard.tracking._load import load_runs, run_select
from modelyard.tracking._prepared import Prepared, fetch_all
from modelyard.tracking._types import (
    ArtifactInfo,
    Experiment,
    InputKind,
    Metric,
    Run,
    RunInput,
    RunPage,
    RunStatus,
)
from modelyard.tracking._validate import check_key, check_params

__all__ = ["MetricRow", "TrackingStore"]

MetricRow = tuple[str, float, int, int]  # key, value, step, timestamp
MAX_RESULTS = 50_000
_IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


class TrackingStore:
    """Experiments, runs, params, metrics, tags, artifacts and lineage inputs."""

    def __init__(self, db: Database, artifacts: ArtifactStore) -> None:
        self.db = db
        self.artifacts = artifacts
        self._experiment_ids: dict[str, str] = {}

    # -- experiments ---------------------------------------------------------------------

    def experiment(self, name: str, *, create: bool = True) -> Experiment:
        """The experiment called ``name``, created on first use unless ``create`` is False."""
        if not name or len(name) > 255:
            raise ValidationError("an experiment name has 1 to 255 characters")
        with self.db.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            if not create:
                raise ExperimentNotFoundError(name)
            with self.db.write() as conn:
                insert_ignore(
                    conn,
                    experiments,
                    [{"id": new_id(), "name": name, "created_at": now_ms()}],
                    ["name"],
                )
                row = conn.execute(select(experiments).where(experiments.c.name == name)).one()
        return Experiment(row.id, row.name, row.created_at, row.description)

    def experiments(self) -> list[Experiment]:
        with self.db.read() as conn:
            rows = conn.execute(select(experiments).order_by(experiments.c.name)).all()
        return [Experiment(r.id, r.name, r.created_at, r.description) for r in rows]

    def _existing_experiment_id(self, name: str) -> str:
        if name not in self._experiment_ids:
            self._experiment_ids[name] = self.experiment(name, create=False).id
        return self._experiment_ids[name]

    def _experiment_id(self, name: str) -> str:
        if name not in self._experiment_ids:
            self._experiment_ids[name] = self.experiment(name).id
        return self._experiment_ids[name]

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        *,
        name: str,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        git_commit: str | None = None,
        source: str | None = None,
        user: str | None = None,
    ) -> str:
        """Start a run in ``experiment`` (created if new); returns its id."""
        tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        experiment_id = self._experiment_id(experiment)
        run_id = new_id()
        with self.db.write() as conn:
            if parent_run_id is not None:
                self._status(conn, parent_run_id)
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    experiment_id=experiment_id,
                    name=name,
                    status=RunStatus.RUNNING,
                    start_time=now_ms(),
                    parent_run_id=parent_run_id,
                    git_commit=git_commit,
                    source=source,
                    user=user,
                )
            )
            if tags:
                conn.execute(
                    run_tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
                )
        return run_id

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED) -> None:
        with self.db.write() as conn:
            self._status(conn, run_id)
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING)
                .values(status=status, end_time=now_ms())
            )

    def _status(self, conn: Connection, run_id: str) -> RunStatus:
        status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        if status is None:
            raise RunNotFoundError(run_id)
        return RunStatus(status)

    def _active(self, conn: Connection, run_id: str) -> None:
        status = self._status(conn, run_id)
        if status != RunStatus.RUNNING:
            raise RunNotActiveError(run_id, status)

    # -- params, tags, metrics -----------------------------------------------------------

    def log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        """Log params; a key logged again must have the same value (params are immutable)."""
        new = check_params(values)
        if not new:
            return
        with self.db.write() as conn:
            self._active(conn, run_id)
            stored: dict[str, str] = {}
            keys = list(new)
            for i in range(0, len(keys), _IN_CHUNK):
                chunk = keys[i : i + _IN_CHUNK]
                found = conn.execute(
                    select(params.c.key, params.c.value).where(
                        params.c.run_id == run_id, params.c.key.in_(chunk)
                    )
                )
                stored.update((key, value) for key, value in found)
            for key, old in stored.items():
                if old != new[key]:
                    raise ParamConflictError(run_id, key, old, new[key])
            rows = [
                {"run_id": run_id, "key": k, "value": v} for k, v in new.items() if k not in stored
            ]
            if rows:
                conn.execute(params.insert(), rows)

    def set_tags(self, run_id: str, values: Mapping[str, Any]) -> None:
        rows = [
            {"run_id": run_id, "key": check_key(k, "tag"), "value": str(v)}
            for k, v in values.items()
        ]
        with self.db.write() as conn:
            self._status(conn, run_id)
            upsert(conn, run_tags, rows, ["run_id", "key"], ["value"])

    def log_metrics(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Append metric values and advance the latest value of each key."""
        if not rows:
            return
        history = [
            (run_id, key, 0.0 if value != value else value, value != value, step, ts)
            for key, value, step, ts in rows
        ]
        newest: dict[str, tuple[str, str, float, bool, int, int]] = {}
        for row in history:
            best = newest.get(row[1])
            if best is None or (row[4], row[5]) >= (best[4], best[5]):
                newest[row[1]] = row
        latest = [dict(zip(_METRIC_COLUMNS, row, strict=True)) for row in newest.values()]
        with self.db.write() as conn:
            self._active(conn, run_id)
            # The driver's executemany over tuples: building a dict per value through
            # SQLAlchemy's insert() costs more than SQLite's own insert of it.
            conn.exec_driver_sql(_metric_insert(conn.dialect.paramstyle), history)
            upsert(
                conn,
                latest_metrics,
                latest,
                ["run_id", "key"],
                ["value", "is_nan", "step", "timestamp"],
                where=lambda t, new: or_(
                    new.step > t.c.step, and_(new.step == t.c.step, new.timestamp >= t.c.timestamp)
                ),
            )

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value logged for ``key``, by step then time."""
        with self.db.read() as conn:
            self._status(conn, run_id)
            rows = conn.execute(
                select(
                    metrics.c.key,
                    metrics.c.value,
                    metrics.c.is_nan,
                    metrics.c.step,
                    metrics.c.timestamp,
                )
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            ).all()
        return [Metric(r.key, math.nan if r.is_nan else r.value, r.step, r.timestamp) for r in rows]

    # -- artifacts and inputs ------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, name: str | None = None
    ) -> ArtifactInfo:
        """Store a file or folder under the run as ``name`` (default: its base name)."""
        path = Path(local_path)
        if not path.exists():
            raise ValidationError(f"cannot log artifact {path}: no such file or folder")
        artifact_name = name or path.name
        if artifact_name.startswith("/") or ".." in Path(artifact_name).parts:
            raise ValidationError(f"artifact name {artifact_name!r} must be a relative path")
        blob = self.artifacts.put_tree(path) if path.is_dir() else self.artifacts.put_file(path)
        return self.record_artifact(run_id, artifact_name, blob, is_dir=path.is_dir())

    def record_artifact(self, run_id: str, name: str, blob: Blob, *, is_dir: bool) -> ArtifactInfo:
        """Link an already stored blob or tree to the run under ``name``."""
        row = {
            "run_id": run_id,
            "path": name,
            "digest": blob.digest,
            "size": blob.size,
            "is_dir": is_dir,
            "created_at": now_ms(),
        }
        with self.db.write() as conn:
            self._status(conn, run_id)
            upsert(
                conn,
                run_artifacts,
                [row],
                ["run_id", "path"],
                ["digest", "size", "is_dir", "created_at"],
            )
        return ArtifactInfo(name, blob.digest, blob.size, is_dir)

    def log_input(
        self,
        run_id: str,
        kind: InputKind | str,
        ref: str,
        *,
        role: str = "training",
        digest: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> RunInput:
        """Record that the run consumed ``ref`` (a dataset version, feature view, ...)."""
        try:
            kind = InputKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in InputKind)
            raise ValidationError(f"unknown input kind {kind!r}; known kinds: {known}") from None
        if not ref:
            raise ValidationError("an input needs a reference (ref)")
        extra = dict(details) if details else None
        row = {
            "run_id": run_id,
            "kind": str(kind),
            "ref": ref,
            "role": role,
            "digest": digest,
            "details": extra,
            "created_at": now_ms(),
        }
        with self.db.write() as conn:
            self._status(conn, run_id)
            insert_ignore(conn, run_inputs, [row], ["run_id", "kind", "ref", "role"])
        return RunInput(str(kind), ref, role, digest, extra)

    # -- reading -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        found = self.get_runs([run_id])
        if not found:
            raise RunNotFoundError(run_id)
        return found[0]

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix`` (at least 4 characters)."""
        if len(prefix) == 32:
            return prefix
        if len(prefix) < 4 or not prefix.isalnum():
            raise RunNotFoundError(prefix)
        with self.db.read() as conn:
            found = list(
                conn.execute(
                    select(runs.c.id).where(runs.c.id.startswith(prefix)).limit(2)
                ).scalars()
            )
        if len(found) != 1:
            if found:
                raise ValidationError(
                    f"run id prefix {prefix!r} is ambiguous; give more characters"
                )
            raise RunNotFoundError(prefix)
        return str(found[0])

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """The runs with these ids, in the given order (unknown ids are left out)."""
        loaded: dict[str, Run] = {}
        with self.db.read() as conn:
            for i in range(0, len(run_ids), _IN_CHUNK):
                head = conn.execute(
                    run_select().where(runs.c.id.in_(run_ids[i : i + _IN_CHUNK]))
                ).all()
                loaded.update((run.id, run) for run in load_runs(conn, head))
        return [loaded[i] for i in run_ids if i in loaded]

    def search_runs(
        self,
        *,
        experiments: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs matching ``filter`` (see the filter language in the docs), ordered and paged."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise ValidationError(f"max_results must be between 1 and {MAX_RESULTS}")
        offset = _decode_token(page_token)
        experiment_ids = [self._existing_experiment_id(n) for n in experiments or ()]
        bound: dict[str, Any] = {"limit": max_results + 1, "offset": offset}
        bound.update(zip(_experiment_names(len(experiment_ids)), experiment_ids, strict=True))
        with self.db.read() as conn:
            stmt = _search_statement(
                conn.dialect, filter or "", tuple(order_by or ()), len(experiment_ids)
            )
            head = fetch_all(conn, stmt.sql, stmt.parameters(bound))
            more = len(head) > max_results
            found = load_runs(conn, head[:max_results])
        token = _encode_token(offset + max_results) if more else None
        return RunPage(found, token)


_METRIC_COLUMNS = ("run_id", "key", "value", "is_nan", "step", "timestamp")


@functools.cache
def _metric_insert(paramstyle: str) -> str:
    marks = ", ".join(["?" if paramstyle == "qmark" else "%s"] * len(_METRIC_COLUMNS))
    return f"INSERT INTO metrics ({', '.join(_METRIC_COLUMNS)}) VALUES ({marks})"


@functools.lru_cache(maxsize=256)
def _search_statement(
    dialect: Dialect, filter_text: str, order_by: tuple[str, ...], experiment_count: int
) -> Prepared:
    """The search statement for a filter, ordering and number of experiments, compiled once
    per distinct text; every value that varies between calls (experiments, limit, offset)
    is a runtime parameter."""
    stmt = run_select()
    expr = parse_filter(filter_text)
    if expr is not None:
        stmt = stmt.where(compile_filter(expr))
    names = _experiment_names(experiment_count)
    if names:
        # with a comparison that drives the search, SQLite should not start from the
        # experiment's runs instead (see _filter_sql.py)
        column = (
            not_narrowing(runs.c.experiment_id) if drives_search(expr) else runs.c.experiment_id
        )
        stmt = stmt.where(column.in_([bindparam(name) for name in names]))
    stmt = apply_order_by(stmt, parse_order_by(order_by))
    stmt = stmt.limit(bindparam("limit")).offset(bindparam("offset"))
    return Prepared.compile(stmt, dialect, ("limit", "offset", *names))


def _experiment_names(count: int) -> tuple[str, ...]:
    return tuple(f"experiment_{i}" for i in range(count))


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValidationError(f"page token {token!r} is not one this server issued") from None
    if not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"page token {token!r} is not one this server issued")
    return offset
