"""Loading runs with their params, metrics, tags, artifacts and inputs.

A page of runs costs one query for the runs (the search itself selects their columns) and
five for their children, each with the run ids as ONE bound value (a JSON array on SQLite,
an array on PostgreSQL) so that the statements are compiled once and cached instead of
expanding a thousand placeholders per call.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Select,
    String,
    any_,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from modelyard.store._schema import (
    experiments,
    latest_metrics,
    params,
    run_artifacts,
    run_inputs,
    run_tags,
    runs,
)
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


def _ids_in(column: ColumnElement[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(String)))
    each = func.json_each(bindparam("ids")).table_valued("value")  # SQLite's JSON1
    return column.in_(select(each.c.value))


@functools.cache
def _children_statements(dialect: str) -> dict[str, Any]:
    def where(table: Any) -> ColumnElement[bool]:
        return _ids_in(table.c.run_id, dialect)

    return {
        "params_tags": union_all(
            select(literal(True), params.c.run_id, params.c.key, params.c.value).where(
                where(params)
            ),
            select(literal(False), run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
                where(run_tags)
            ),
        ),
        "metrics": select(
            latest_metrics.c.run_id,
            latest_metrics.c.key,
            latest_metrics.c.value,
            latest_metrics.c.is_nan,
            latest_metrics.c.step,
            latest_metrics.c.timestamp,
        ).where(where(latest_metrics)),
        "artifacts": select(
            run_artifacts.c.run_id,
            run_artifacts.c.path,
            run_artifacts.c.digest,
            run_artifacts.c.size,
            run_artifacts.c.is_dir,
        )
        .where(where(run_artifacts))
        .order_by(run_artifacts.c.path),
        "inputs": select(
            run_inputs.c.run_id,
            run_inputs.c.kind,
            run_inputs.c.ref,
            run_inputs.c.role,
            run_inputs.c.digest,
            run_inputs.c.details,
        )
        .where(where(run_inputs))
        .order_by(run_inputs.c.id),
    }


def load_runs(conn: Connection, head: Sequence[Any]) -> list[Run]:
    """Build runs from rows of :func:`run_select`, fetching their children."""
    if not head:
        return []
    ids = [row[0] for row in head]
    dialect = conn.dialect.name
    bound = {"ids": ids if dialect == "postgresql" else json.dumps(ids)}
    statements = _children_statements(dialect)
    found: dict[str, dict[str, Any]] = {name: defaultdict(dict) for name in ("params", "tags")}
    for is_param, run_id, key, value in conn.execute(statements["params_tags"], bound).all():
        found["params" if is_param else "tags"][run_id][key] = value
    metrics: dict[str, dict[str, Metric]] = defaultdict(dict)
    for run_id, key, value, is_nan, step, ts in conn.execute(statements["metrics"], bound).all():
        metrics[run_id][key] = Metric(key, math.nan if is_nan else value, step, ts)
    artifacts: dict[str, list[ArtifactInfo]] = defaultdict(list)
    for run_id, *fields in conn.execute(statements["artifacts"], bound).all():
        artifacts[run_id].append(ArtifactInfo(*fields))
    inputs: dict[str, list[RunInput]] = defaultdict(list)
    for run_id, *fields in conn.execute(statements["inputs"], bound).all():
        inputs[run_id].append(RunInput(*fields))
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
            params=found["params"].get(row[0], {}),
            metrics=metrics.get(row[0], {}),
            tags=found["tags"].get(row[0], {}),
            artifacts=tuple(artifacts.get(row[0], ())),
            inputs=tuple(inputs.get(row[0], ())),
        )
        for row in head
    ]
