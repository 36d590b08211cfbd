"""Loading runs with their params, metrics, tags, artifacts and inputs.

A page of runs costs one query for the runs (the search itself selects their columns) and
four for their children, each with the run ids as ONE bound value (a JSON array on SQLite,
an array on PostgreSQL), in SQL written out per dialect and run on the driver's cursor
(see ``_prepared.py``). Params and tags come back as one JSON object per run, aggregated
by the database: parsing one object per run costs less than a Python row per value.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, select

from modelyard.store._schema import experiments, runs
from modelyard.tracking._prepared import fetch_all
from modelyard.tracking._types import ArtifactInfo, Metric, Run, RunInput, RunStatus

__all__ = ["load_runs", "run_select"]

_STATUS = {status.value: status for status in RunStatus}


def run_select() -> Select[Any]:
    """``select`` of every run attribute plus the experiment name, in ``Run`` field order."""
    return select(
        runs.c.id,
        runs.c.experiment_id,
        experiments.c.name,
        runs.c.name,
        runs.c.status,
        runs.c.start_time,
        runs.c.end_time,
        runs.c.parent_run_id,
        runs.c.git_commit,
        runs.c.source,
        runs.c.user,
    ).join(experiments, experiments.c.id == runs.c.experiment_id)


@dataclass(frozen=True, slots=True)
class _Children:
    """The queries for the children of a page of runs on one dialect."""

    ids: Callable[[list[str]], Any]  # the run ids as the one bound value
    key_values: str  # per run id, in order: params and tags as JSON objects
    metrics: str
    artifacts: str
    inputs: str


_SQLITE_IDS = "IN (SELECT value FROM json_each(?))"
_POSTGRES_IDS = "= ANY(%(ids)s)"
_METRICS = 'SELECT run_id, "key", "value", is_nan, step, "timestamp" FROM latest_metrics'
_ARTIFACTS = "SELECT run_id, path, digest, size, is_dir FROM run_artifacts"
_INPUTS = "SELECT run_id, kind, ref, role, digest, details FROM run_inputs"

_CHILDREN = {
    "sqlite": _Children(
        ids=lambda ids: (json.dumps(ids),),
        key_values=(
            'SELECT (SELECT json_group_object("key", "value") FROM params'
            " WHERE run_id = ids.value),"
            ' (SELECT json_group_object("key", "value") FROM run_tags'
            " WHERE run_id = ids.value)"
            " FROM json_each(?) AS ids ORDER BY ids.key"
        ),
        metrics=f"{_METRICS} WHERE run_id {_SQLITE_IDS}",
        artifacts=f"{_ARTIFACTS} WHERE run_id {_SQLITE_IDS} ORDER BY path",
        inputs=f"{_INPUTS} WHERE run_id {_SQLITE_IDS} ORDER BY id",
    ),
    "postgresql": _Children(
        ids=lambda ids: {"ids": ids},
        key_values=(
            'SELECT (SELECT json_object_agg("key", "value") FROM params WHERE run_id = ids.id),'
            ' (SELECT json_object_agg("key", "value") FROM run_tags WHERE run_id = ids.id)'
            " FROM unnest(%(ids)s::varchar[]) WITH ORDINALITY AS ids(id, n) ORDER BY ids.n"
        ),
        metrics=f"{_METRICS} WHERE run_id {_POSTGRES_IDS}",
        artifacts=f"{_ARTIFACTS} WHERE run_id {_POSTGRES_IDS} ORDER BY path",
        inputs=f"{_INPUTS} WHERE run_id {_POSTGRES_IDS} ORDER BY id",
    ),
}


def _json(value: Any) -> Any:
    """A JSON value as the driver returns it: text on SQLite, parsed by psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def _objects(values: Sequence[Any]) -> list[dict[str, str]]:
    """JSON objects of key/value pairs as the driver returns them.

    SQLite's are texts, parsed in one ``json.loads`` (a fraction of the cost of one call
    each); psycopg's are parsed already, and PostgreSQL aggregates no rows to NULL.
    """
    texts = [value for value in values if isinstance(value, str)]
    parsed = iter(json.loads(f"[{','.join(texts)}]") if texts else ())
    return [next(parsed) if isinstance(value, str) else value or {} for value in values]


def load_runs(conn: Connection, head: Sequence[Any]) -> list[Run]:
    """Build runs from rows of :func:`run_select`, fetching their children."""
    if not head:
        return []
    sql = _CHILDREN[conn.dialect.name]
    bound = sql.ids([row[0] for row in head])
    key_values = fetch_all(conn, sql.key_values, bound)
    objects = _objects([value for pair in key_values for value in pair])
    metrics: dict[str, dict[str, Metric]] = defaultdict(dict)
    for run_id, key, value, is_nan, step, ts in fetch_all(conn, sql.metrics, bound):
        metrics[run_id][key] = Metric(key, math.nan if is_nan else value, step, ts)
    artifacts: dict[str, list[ArtifactInfo]] = defaultdict(list)
    for run_id, path, digest, size, is_dir in fetch_all(conn, sql.artifacts, bound):
        artifacts[run_id].append(ArtifactInfo(path, digest, size, bool(is_dir)))
    inputs: dict[str, list[RunInput]] = defaultdict(list)
    for run_id, kind, ref, role, digest, details in fetch_all(conn, sql.inputs, bound):
        inputs[run_id].append(RunInput(kind, ref, role, digest, _json(details)))
    return [
        Run(
            id=row[0],
            experiment_id=row[1],
            experiment=row[2],
            name=row[3],
            status=_STATUS[row[4]],
            start_time=row[5],
            end_time=row[6],
            parent_run_id=row[7],
            git_commit=row[8],
            source=row[9],
            user=row[10],
            params=run_params,
            metrics=metrics.get(row[0], {}),
            tags=run_tags,
            artifacts=tuple(artifacts.get(row[0], ())),
            inputs=tuple(inputs.get(row[0], ())),
        )
        for row, run_params, run_tags in zip(head, objects[0::2], objects[1::2], strict=True)
    ]
