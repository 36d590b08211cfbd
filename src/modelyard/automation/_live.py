"""Live facts of a deployment's traffic targets over a window: what a canary is judged on.

Requests, predictions, latency and outputs come from the prediction log: its Parquet
segments and, for the requests of the last ``serving.segment_seconds`` not rolled yet,
the servers' write-ahead files (read by DuckDB as JSON lines; a torn last line is
skipped, a request found in both is counted once). Failed requests come from the
per-minute counts servers flush into ``serving_errors``; a failure that the primary
target then answered (see the serving runtime) is counted against the target that
failed, and its answer against the primary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
from sqlalchemy import func, select

from modelyard.data._duck import string_list
from modelyard.store._schema import serving_errors

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = ["LiveTarget", "live_targets"]

_WAL_COLUMNS = (
    "{'request_id': 'VARCHAR', 'ts': 'BIGINT', 'deployment': 'VARCHAR', "
    "'target': 'VARCHAR', 'shadow': 'BOOLEAN', 'latency_ms': 'DOUBLE', "
    "'ids': 'VARCHAR[]', 'outputs': 'JSON'}"
)


@dataclass(frozen=True, slots=True)
class LiveTarget:
    """One target's traffic in the window; ``outputs`` are its numeric predictions."""

    target: str
    requests: int
    predictions: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    outputs: np.ndarray

    @property
    def error_rate(self) -> float | None:
        total = self.requests + self.errors
        return self.errors / total if total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "requests": self.requests,
            "predictions": self.predictions,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
        }


def live_targets(
    ws: Workspace, deployment: str, targets: list[str], *, since_ms: int, until_ms: int
) -> dict[str, LiveTarget]:
    """The live facts of each of ``targets`` in ``[since, until)``."""
    con = duckdb.connect()
    try:
        views = _predictions(ws, con, deployment, since_ms, until_ms)
        stats: dict[str, tuple[int, int, float | None, float | None]] = {}
        outputs: dict[str, np.ndarray] = {}
        if views:
            rows = con.sql(
                """
                SELECT target, count(*), sum(n)::BIGINT,
                       quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95)
                FROM __requests GROUP BY target
                """
            ).fetchall()
            stats = {r[0]: (int(r[1]), int(r[2]), r[3], r[4]) for r in rows}
            for target in targets:
                found = con.execute(
                    "SELECT value FROM __outputs WHERE target = ? AND value IS NOT NULL",
                    [target],
                ).fetchnumpy()
                outputs[target] = np.asarray(found["value"], dtype=np.float64)
    finally:
        con.close()
    errors = _errors(ws, deployment, since_ms, until_ms)
    found_targets = {}
    for target in targets:
        requests, predictions, p50, p95 = stats.get(target, (0, 0, None, None))
        found_targets[target] = LiveTarget(
            target,
            requests,
            predictions,
            errors.get(target, 0),
            p50,
            p95,
            outputs.get(target, np.array([], dtype=np.float64)),
        )
    return found_targets


def _predictions(
    ws: Workspace, con: duckdb.DuckDBPyConnection, deployment: str, since: int, until: int
) -> bool:
    """Views ``__requests`` (target, latency_ms, n) and ``__outputs`` (target, value) of
    the window; False when nothing is logged."""
    parts_requests, parts_outputs = [], []
    wal = sorted(str(p) for p in (ws.monitoring.log.root / "wal").glob("*.jsonl"))
    if wal:
        try:
            con.sql(
                f"CREATE TEMP TABLE __wal AS SELECT * FROM read_json({string_list(wal)}, "
                f"format = 'newline_delimited', columns = {_WAL_COLUMNS}, "
                f"ignore_errors = true) WHERE deployment = '{_quote(deployment)}' "
                f"AND NOT shadow AND ts >= {int(since)} AND ts < {int(until)}"
            )
        except duckdb.IOException:  # a file rolled meanwhile: its requests are in Parquet
            wal = []
    rel = ws.monitoring.log.relation(con, deployment, since_ms=since, until_ms=until)
    if rel is not None:
        con.register("__log", rel)
        parts_requests.append(
            "SELECT request_id, any_value(target) AS target, any_value(latency_ms) "
            "AS latency_ms, count(*) AS n FROM __log GROUP BY request_id"
        )
        parts_outputs.append("SELECT target, TRY_CAST(output AS DOUBLE) AS value FROM __log")
    if wal:
        rolled = "AND request_id NOT IN (SELECT request_id FROM __log)" if rel is not None else ""
        parts_requests.append(
            f"SELECT request_id, target, latency_ms, len(ids) AS n FROM __wal WHERE true {rolled}"
        )
        parts_outputs.append(
            "SELECT target, TRY_CAST(unnest(json_extract(outputs, '$[*]')) AS DOUBLE) AS value "
            f"FROM __wal WHERE true {rolled}"
        )
    if not parts_requests:
        return False
    con.sql(f"CREATE TEMP VIEW __requests AS {' UNION ALL '.join(parts_requests)}")
    con.sql(f"CREATE TEMP VIEW __outputs AS {' UNION ALL '.join(parts_outputs)}")
    return True


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _errors(ws: Workspace, deployment: str, since: int, until: int) -> dict[str, int]:
    """Failed requests per target in the minutes the window touches."""
    query = (
        select(serving_errors.c.target, func.sum(serving_errors.c.count))
        .where(serving_errors.c.deployment == deployment)
        .where(serving_errors.c.minute >= since // 60_000 * 60_000)
        .where(serving_errors.c.minute < until)
        .group_by(serving_errors.c.target)
    )
    with ws.db.read() as conn:
        return {target: int(count) for target, count in conn.execute(query).all()}
