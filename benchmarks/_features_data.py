"""The data of the feature store benchmark, made once from a seed and shared by both systems.

Usage: ``python benchmarks/_features_data.py --out DIR --rows N --entities M [--seed S]``.

Writes to ``DIR`` (skipped when ``DIR/meta.json`` already describes the same data):

- ``features.parquet``: ``rows`` feature rows; ``user_id`` (BIGINT, every id in
  ``0..entities-1`` has rows), ``event_timestamp`` (UTC, millisecond resolution, spread over
  ``DAYS`` days from ``START``), ``created`` (UTC, up to a minute later), ``f0``..``f9``
  (DOUBLE; about 1% of ``f9`` is null, to check that both systems treat missing values alike).
- ``entity_rows.parquet``: ``entity_rows`` rows to join (``row_id``, ``user_id``,
  ``event_timestamp``): random entities at random moments from just before the data starts
  to a day after it ends, so that some rows precede their entity's first feature row.
- ``meta.json``: the sizes, seed and window; the workers read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAYS = 30
FEATURES = 10
NULL_SHARE = 0.01
TIMESTAMP = pa.timestamp("us", tz="UTC")
_MS_PER_DAY = 86_400_000


def meta_of(rows: int, entities: int, entity_rows: int, seed: int) -> dict[str, Any]:
    """What ``meta.json`` holds for these sizes."""
    end = START + dt.timedelta(days=DAYS)
    return {
        "rows": rows,
        "entities": entities,
        "entity_rows": entity_rows,
        "seed": seed,
        "features": FEATURES,
        "start": START.isoformat(),
        "end": end.isoformat(),
    }


def _micros(ms: np.ndarray) -> pa.Array:
    start_us = int(START.timestamp()) * 1_000_000
    return pa.array(start_us + ms.astype(np.int64) * 1000, type=pa.int64()).cast(TIMESTAMP)


def feature_rows(rows: int, entities: int, rng: np.random.Generator) -> pa.Table:
    users = rng.permutation(np.arange(rows, dtype=np.int64) % entities)
    event_ms = rng.integers(0, DAYS * _MS_PER_DAY, size=rows)
    created_ms = event_ms + rng.integers(0, 60_000, size=rows)
    columns: dict[str, Any] = {
        "user_id": pa.array(users),
        "event_timestamp": _micros(event_ms),
        "created": _micros(created_ms),
    }
    for i in range(FEATURES):
        values = rng.standard_normal(rows) * (i + 1)
        mask = rng.random(rows) < NULL_SHARE if i == FEATURES - 1 else None
        columns[f"f{i}"] = pa.array(values, type=pa.float64(), mask=mask)
    return pa.table(columns)


def entity_rows(count: int, entities: int, rng: np.random.Generator) -> pa.Table:
    moments = rng.integers(-_MS_PER_DAY // 24, (DAYS + 1) * _MS_PER_DAY, size=count)
    return pa.table(
        {
            "row_id": pa.array(np.arange(count, dtype=np.int64)),
            "user_id": pa.array(rng.integers(0, entities, size=count, dtype=np.int64)),
            "event_timestamp": _micros(moments),
        }
    )


def ensure(out: Path, rows: int, entities: int, entity_rows_count: int, seed: int) -> bool:
    """Write the data to ``out`` unless it is there already; return whether it was written."""
    meta = meta_of(rows, entities, entity_rows_count, seed)
    meta_path = out / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()) == meta:
        return False
    if entities < 1 or rows < entities:
        raise ValueError(f"need at least one row per entity (rows {rows}, entities {entities})")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pq.write_table(feature_rows(rows, entities, rng), out / "features.parquet")
    pq.write_table(entity_rows(entity_rows_count, entities, rng), out / "entity_rows.parquet")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, help="rows to join (default: --entities)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    count = args.entity_rows or args.entities
    ensure(args.out, args.rows, args.entities, count, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
