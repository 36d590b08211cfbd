"""Rolling a prediction WAL file into Parquet segments, one row per prediction.

A WAL line is one request: its scalar facts and its columns as lists. Rolling reads the
lines (a torn last line, left by a killed process, is skipped), groups them by deployment,
and explodes the per-request lists into rows with Arrow (``list_flatten`` and
``list_parent_indices``), never a Python loop per row. Each group is written to
``deployment=<name>/date=<yyyy-mm-dd>/<wal name>.parquet`` (hive partitioning) through a
hidden temporary file, fsynced and renamed. Segment names derive from the WAL name, so
rolling the same WAL twice (a crash between writing and deleting it) rewrites the same
files instead of duplicating rows.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["read_wal", "records_table", "roll_wal"]

log = logging.getLogger(__name__)

_SCALARS: tuple[tuple[str, str, pa.DataType], ...] = (
    ("request_id", "request_id", pa.string()),
    ("timestamp", "ts", pa.timestamp("ms", tz="UTC")),
    ("model", "model", pa.string()),
    ("version", "version", pa.int64()),
    ("target", "target", pa.string()),
    ("shadow", "shadow", pa.bool_()),
    ("latency_ms", "latency_ms", pa.float64()),
    ("server_id", "server_id", pa.string()),
)


def read_wal(path: Path) -> list[dict[str, Any]]:
    """The records of a WAL file; lines that do not parse (a torn last line) are skipped."""
    records = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line:
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            log.warning("skipping unreadable line %d of prediction WAL %s", number, path)
    return records


def roll_wal(path: Path, root: Path) -> int:
    """Write the records of the WAL ``path`` as Parquet segments under ``root``; the number
    of prediction rows written. The WAL itself is left for the caller to delete."""
    by_deployment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with _collector_paused():
        for record in read_wal(path):
            by_deployment[str(record["deployment"])].append(record)
        tables = {name: _tables(records) for name, records in by_deployment.items()}
    del by_deployment
    rows = 0
    for deployment, named in tables.items():
        for suffix, table in named:
            folder = root / f"deployment={quote(deployment, safe='')}"
            rows += _write_by_date(table, folder, f"{path.stem.lstrip('_')}{suffix}")
    return rows


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a WAL becomes tables: its records are
    hundreds of thousands of containers, all alive until the tables are built, and
    collections that scan them again and again took 40% of a roll's CPU. It is off for
    the whole process, about half a second per 100,000 rows; nothing is lost, only
    collected later."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _tables(records: list[dict[str, Any]]) -> list[tuple[str, pa.Table]]:
    """One table for the records, or one per model version when their columns' types do
    not combine (a new version that changed an input's type)."""
    by_version: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_version[int(record["version"])].append(record)
    tables = {version: records_table(group) for version, group in by_version.items()}
    if len(tables) == 1:
        return [("", next(iter(tables.values())))]
    try:
        return [("", pa.concat_tables(list(tables.values()), promote_options="permissive"))]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return [(f"-v{version}", table) for version, table in tables.items()]


def records_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """One row per prediction of ``records`` (WAL lines of one deployment)."""
    ids = pa.array([record["ids"] for record in records], type=pa.list_(pa.string()))
    parents = pc.list_parent_indices(ids)
    columns: dict[str, pa.Array] = {"prediction_id": pc.list_flatten(ids)}
    for name, key, dtype in _SCALARS:
        values = pa.array([record.get(key) for record in records], type=dtype)
        columns[name] = values.take(parents)
    sizes = [len(record["ids"]) for record in records]
    hits = [r.get("cache_hit") or [False] * n for r, n in zip(records, sizes, strict=True)]
    columns["cache_hit"] = pc.list_flatten(pa.array(hits, type=pa.list_(pa.bool_())))
    names = sorted({name for record in records for name in record.get("inputs") or ()})
    for name in names:
        lists = [(record.get("inputs") or {}).get(name) for record in records]
        columns[f"input__{name}"] = _explode(lists, sizes)
    if any(record.get("tensor") is not None for record in records):
        columns["input__tensor"] = _explode([record.get("tensor") for record in records], sizes)
    columns["output"] = _explode([record.get("outputs") for record in records], sizes)
    return pa.table(columns)


def _explode(lists: list[list[Any] | None], sizes: list[int]) -> pa.Array:
    """Per-request value lists flattened into one value per row; a request without the
    column gets nulls."""
    filled = [
        values if values is not None else [None] * n for values, n in zip(lists, sizes, strict=True)
    ]
    try:
        return pc.list_flatten(pa.array(filled))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed value types: keep them as text
        text = [[None if v is None else str(v) for v in values] for values in filled]
        return pc.list_flatten(pa.array(text, type=pa.list_(pa.string())))


def _write_by_date(table: pa.Table, folder: Path, name: str) -> int:
    dates = pc.strftime(table["timestamp"], format="%Y-%m-%d")
    unique = pc.unique(dates).to_pylist()
    for date in unique:
        part = table if len(unique) == 1 else table.filter(pc.equal(dates, date))
        _write_atomically(part, folder / f"date={date}", f"{name}.parquet")
    return int(table.num_rows)


def _write_atomically(table: pa.Table, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"  # a leading dot: datasets never read a half-written file
    pq.write_table(table, tmp)
    with tmp.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, folder / name)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
