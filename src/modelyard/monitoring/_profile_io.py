"""A reference profile as bytes: an Arrow IPC stream, one row per column.

Arrow keeps every float bit for bit (a loaded profile gives exactly the drift results the
original gave) and is about 8 bytes per stored quantile. The profile's own fields (rows,
resolution, source, skipped columns) and a format number travel as JSON in the schema
metadata under ``modelyard.profile``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from modelyard.errors import ValidationError
from modelyard.monitoring._methods import ColumnKind
from modelyard.monitoring._profile import ColumnProfile, ReferenceProfile

__all__ = ["dump", "load"]

FORMAT = 1
_KEY = b"modelyard.profile"
_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("kind", pa.string()),
        ("dtype", pa.string()),
        ("family", pa.string()),
        ("count", pa.int64()),
        ("nulls", pa.int64()),
        ("n_unique", pa.int64()),
        ("mean", pa.float64()),
        ("std", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("numbers", pa.list_(pa.float64())),
        ("labels", pa.list_(pa.string())),
        ("counts", pa.list_(pa.int64())),
    ]
)


def dump(profile: ReferenceProfile) -> bytes:
    """``profile`` as an Arrow IPC stream."""
    cols = list(profile.columns.values())
    numeric = [c.kind is ColumnKind.NUMERIC for c in cols]
    table = pa.table(
        {
            "name": [c.name for c in cols],
            "kind": [c.kind.value for c in cols],
            "dtype": [c.dtype for c in cols],
            "family": [c.family for c in cols],
            "count": [c.count for c in cols],
            "nulls": [c.nulls for c in cols],
            "n_unique": [c.n_unique for c in cols],
            "mean": [c.mean for c in cols],
            "std": [c.std for c in cols],
            "min": [c.min for c in cols],
            "max": [c.max for c in cols],
            "numbers": [c.values if n else None for c, n in zip(cols, numeric, strict=True)],
            "labels": [
                None if n else c.values.tolist() for c, n in zip(cols, numeric, strict=True)
            ],
            "counts": [c.counts for c in cols],
        },
        schema=_SCHEMA,
    )
    meta = {
        "format": FORMAT,
        "rows": profile.rows,
        "resolution": profile.resolution,
        "source": profile.source,
        "skipped": dict(profile.skipped),
    }
    table = table.replace_schema_metadata({_KEY: json.dumps(meta).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def load(data: bytes) -> ReferenceProfile:
    """The profile :func:`dump` wrote; a ValidationError for anything else."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        meta = json.loads((table.schema.metadata or {})[_KEY])
    except (pa.ArrowInvalid, KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"not a stored drift profile: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ValidationError(
            f"drift profile format {meta.get('format')!r} is not supported (expected {FORMAT})"
        )
    columns = {row["name"]: _column(row) for row in table.to_pylist()}
    return ReferenceProfile(
        rows=int(meta["rows"]),
        columns=columns,
        skipped=dict(meta["skipped"]),
        resolution=int(meta["resolution"]),
        source=meta["source"],
    )


def _column(row: dict[str, Any]) -> ColumnProfile:
    kind = ColumnKind(row["kind"])
    if kind is ColumnKind.NUMERIC:
        values = np.asarray(row["numbers"], dtype=np.float64)
    else:
        values = np.asarray(row["labels"], dtype=object)
    counts = None if row["counts"] is None else np.asarray(row["counts"], dtype=np.int64)
    return ColumnProfile(
        name=row["name"],
        kind=kind,
        dtype=row["dtype"],
        family=row["family"],
        count=row["count"],
        nulls=row["nulls"],
        n_unique=row["n_unique"],
        values=values,
        counts=counts,
        mean=_float(row["mean"]),
        std=_float(row["std"]),
        min=_float(row["min"]),
        max=_float(row["max"]),
    )


def _float(value: float | None) -> float:
    return float("nan") if value is None else float(value)
