"""Reading the prediction log that servers write: Parquet segments, and WAL lines not yet
rolled.

Servers roll their write-ahead files into ``<predictions>/deployment=<name>/date=<day>/``
Parquet segments, one row per prediction (see :mod:`modelyard.serving._logroll`).
Everything here reads them with DuckDB; nothing loops over rows in Python. A prediction
id starts with a time-ordered request id (:func:`~modelyard._ids.time_id`), so a lookup by
id reads only the segments of the day it was made, and the day after (a request logged
across midnight). Predictions still in a WAL file (answered in the last
``serving.segment_seconds``) are found there.

Example:
    >>> log = PredictionLogReader(ws.settings.resolved_predictions_dir())
    >>> rel = log.relation(con, "fraud", since_ms=now - 86_400_000)
    >>> found = log.find(["0193...-0"])  # prediction_id, deployment, model, version, ...
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import duckdb
import orjson
import pyarrow as pa

from modelyard._ids import id_time_ms
from modelyard.data._duck import string_list

__all__ = ["FOUND_SCHEMA", "PredictionLogReader"]

FOUND_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("deployment", pa.string()),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("timestamp_ms", pa.int64()),
        ("output", pa.string()),  # the logged output as JSON text (any type)
    ]
)
_DAY = dt.timedelta(days=1)


class PredictionLogReader:
    """The prediction log under ``root`` (``serving.predictions_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def files(self, deployment: str | None = None, days: Sequence[str] | None = None) -> list[str]:
        """The Parquet segments of ``deployment`` (all, by default) on ``days``
        (``YYYY-MM-DD``; all by default)."""
        folders = (
            [self.root / f"deployment={quote(deployment, safe='')}"]
            if deployment is not None
            else sorted(self.root.glob("deployment=*"))
        )
        found: list[str] = []
        for folder in folders:
            dated = [folder / f"date={d}" for d in days] if days is not None else [folder]
            for place in dated:
                found += sorted(str(p) for p in place.glob("**/*.parquet"))
        return found

    def relation(
        self,
        con: duckdb.DuckDBPyConnection,
        deployment: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> duckdb.DuckDBPyRelation | None:
        """The deployment's logged predictions (not shadows) in ``[since, until)``, one
        row each, or None when nothing is logged."""
        days = _days(since_ms, until_ms)
        files = self.files(deployment, days)
        if not files:
            return None
        where = ["NOT shadow"]
        if since_ms is not None:
            where.append(f"epoch_ms(timestamp) >= {int(since_ms)}")
        if until_ms is not None:
            where.append(f"epoch_ms(timestamp) < {int(until_ms)}")
        return con.sql(
            f"SELECT * EXCLUDE (date) FROM read_parquet({string_list(files)}, "
            f"hive_partitioning = true, union_by_name = true) WHERE {' AND '.join(where)}"
        )

    def find(self, prediction_ids: Sequence[str]) -> pa.Table:
        """The logged facts of each id found (:data:`FOUND_SCHEMA`); ids not logged are
        left out. Shadow answers are not predictions a caller saw and are ignored."""
        wanted = pa.table({"prediction_id": pa.array(list(dict.fromkeys(prediction_ids)))})
        by_day: dict[str, list[str]] = defaultdict(list)
        undated: list[str] = []
        for pid in wanted.column("prediction_id").to_pylist():
            ms = id_time_ms(pid)
            if ms is None:
                undated.append(pid)
                continue
            date = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()
            by_day[date.isoformat()].append(pid)
            by_day[(date + _DAY).isoformat()].append(pid)
        tables = []
        con = duckdb.connect()
        try:
            for day, day_ids in sorted(by_day.items()):
                tables.append(self._lookup(con, self.files(days=[day]), day_ids))
            if undated:
                tables.append(self._lookup(con, self.files(), undated))
            con.register("__found", pa.concat_tables([FOUND_SCHEMA.empty_table(), *tables]))
            found = con.sql("SELECT DISTINCT ON (prediction_id) * FROM __found").to_arrow_table()
        finally:
            con.close()
        missing = set(wanted.column("prediction_id").to_pylist()) - set(
            found.column("prediction_id").to_pylist()
        )
        if missing:
            found = pa.concat_tables([found.cast(FOUND_SCHEMA), self._in_wal(missing)])
        return found.cast(FOUND_SCHEMA)

    def _lookup(self, con: duckdb.DuckDBPyConnection, files: list[str], ids: list[str]) -> pa.Table:
        if not files:
            return FOUND_SCHEMA.empty_table()
        con.register("__wanted", pa.table({"prediction_id": pa.array(ids, pa.string())}))
        try:
            return con.sql(
                f"SELECT l.prediction_id, l.deployment, l.model, l.version, "
                f"epoch_ms(l.timestamp) AS timestamp_ms, to_json(l.output)::VARCHAR AS output "
                f"FROM read_parquet({string_list(files)}, hive_partitioning = true, "
                f"union_by_name = true) AS l JOIN __wanted USING (prediction_id) "
                f"WHERE NOT l.shadow"
            ).to_arrow_table()
        finally:
            con.unregister("__wanted")

    def _in_wal(self, ids: set[str]) -> pa.Table:
        """Ids answered but not rolled to Parquet yet, from the WAL files."""
        requests: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for pid in ids:
            request, _, number = pid.rpartition("-")
            if request and number.isdigit():
                requests[request].append((pid, int(number)))
        rows: list[dict[str, object]] = []
        for path in sorted((self.root / "wal").glob("*.jsonl")):
            try:
                data = path.read_bytes()
            except OSError:
                continue  # rolled meanwhile
            for request, wanted in requests.items():
                at = data.find(f'"request_id":"{request}"'.encode())
                if at < 0:
                    continue
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at)
                record = orjson.loads(data[start : end if end >= 0 else len(data)])
                if record.get("shadow"):
                    continue
                outputs = record.get("outputs") or []
                for pid, row in wanted:
                    if row < len(outputs):
                        rows.append(
                            {
                                "prediction_id": pid,
                                "deployment": record["deployment"],
                                "model": record["model"],
                                "version": record["version"],
                                "timestamp_ms": record["ts"],
                                "output": orjson.dumps(outputs[row]).decode(),
                            }
                        )
        return pa.Table.from_pylist(rows, schema=FOUND_SCHEMA)


def _days(since_ms: int | None, until_ms: int | None) -> list[str] | None:
    """The ``date=`` partitions a window touches (None: every day)."""
    if since_ms is None:
        return None
    first = dt.datetime.fromtimestamp(since_ms / 1000, dt.UTC).date()
    end = until_ms if until_ms is not None else int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    last = dt.datetime.fromtimestamp(end / 1000, dt.UTC).date()
    count = (last - first).days + 1
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(max(count, 1))]
