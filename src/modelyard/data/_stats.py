"""Column statistics of a dataset version, computed by DuckDB in two scans.

The first scan takes count, nulls, approximate distinct (HyperLogLog), min, max and mean
of every column at once; the second draws the histograms: equal-width bins for numbers,
value counts for low-cardinality columns. Values are made JSON-safe for storage.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import duckdb

from modelyard.data._duck import ident, literal
from modelyard.data._types import ColumnStats

__all__ = ["BINS", "TOP_VALUES", "column_stats", "relation_schema"]

BINS = 20
TOP_VALUES = 20  # columns with at most this many distinct values get value counts

_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
_ORDERED = ("DATE", "TIMESTAMP", "TIME", "VARCHAR", "BOOLEAN")


def _is_numeric(type_: str) -> bool:
    return type_ in _NUMERIC or type_.startswith("DECIMAL")


def _is_ordered(type_: str) -> bool:
    return _is_numeric(type_) or type_.startswith(_ORDERED)


def relation_schema(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    """Column names and DuckDB types of ``relation`` (a FROM-clause expression)."""
    rel = con.sql(f"SELECT * FROM {relation} LIMIT 0")
    return [(name, str(type_)) for name, type_ in zip(rel.columns, rel.types, strict=True)]


def json_safe(value: Any) -> Any:
    """A value DuckDB returned, as something JSON can hold."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def column_stats(
    con: duckdb.DuckDBPyConnection, relation: str, schema: list[tuple[str, str]]
) -> list[ColumnStats]:
    """Statistics of every column of ``relation``."""
    if not schema:
        return []
    exprs = ["count(*)"]
    for name, type_ in schema:
        col = ident(name)
        exprs.append(f"count({col})")
        exprs.append(f"approx_count_distinct({col})" if _is_ordered(type_) else "NULL")
        ordered = _is_ordered(type_)
        exprs.append(f"min({col})" if ordered else "NULL")
        exprs.append(f"max({col})" if ordered else "NULL")
        exprs.append(f"avg({col})::DOUBLE" if _is_numeric(type_) else "NULL")
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {relation}").fetchone()
    assert row is not None
    total = int(row[0])
    first: list[dict[str, Any]] = []
    for i, (name, type_) in enumerate(schema):
        count, distinct, lo, hi, mean = row[1 + 5 * i : 6 + 5 * i]
        first.append(
            {
                "name": name,
                "type": type_,
                "count": int(count),
                "nulls": total - int(count),
                "distinct": None if distinct is None else int(distinct),
                "min": lo,
                "max": hi,
                "mean": json_safe(mean),
            }
        )
    histograms = _histograms(con, relation, first)
    return [
        ColumnStats(
            name=c["name"],
            type=c["type"],
            count=c["count"],
            nulls=c["nulls"],
            distinct=c["distinct"],
            min=json_safe(c["min"]),
            max=json_safe(c["max"]),
            mean=c["mean"],
            histogram=histograms.get(c["name"]),
        )
        for c in first
    ]


def _histograms(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[dict[str, Any]]
) -> dict[str, dict[str, list[Any]]]:
    exprs: list[str] = []
    plans: list[tuple[str, str, Any, Any]] = []
    for c in columns:
        col, lo, hi = ident(c["name"]), c["min"], c["max"]
        if c["count"] == 0:
            continue
        if (
            c["distinct"] is not None
            and c["distinct"] <= TOP_VALUES
            and not (_is_numeric(c["type"]) and c["distinct"] > BINS)
        ):
            exprs.append(f"histogram({col})")
            plans.append(("values", c["name"], None, None))
        elif _is_numeric(c["type"]) and lo is not None and hi is not None:
            lo_f, hi_f = float(lo), float(hi)
            if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
                continue
            width = (hi_f - lo_f) / BINS or 1.0
            exprs.append(
                f"histogram(least(floor(({col} - {literal(lo_f)}) / {literal(width)}), "
                f"{BINS - 1})::INTEGER)"
            )
            plans.append(("bins", c["name"], lo_f, width))
    if not exprs:
        return {}
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {relation}").fetchone()
    assert row is not None
    out: dict[str, dict[str, list[Any]]] = {}
    for (kind, name, lo_f, width), counts in zip(plans, row, strict=True):
        counts = dict(counts or {})
        if kind == "values":
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
            out[name] = {
                "values": [json_safe(v) for v, _ in ranked],
                "counts": [int(n) for _, n in ranked],
            }
        else:
            out[name] = {
                "edges": [lo_f + width * i for i in range(BINS + 1)],
                "counts": [int(counts.get(i, 0)) for i in range(BINS)],
            }
    return out
