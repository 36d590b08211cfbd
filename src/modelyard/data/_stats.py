"""Column statistics of a dataset version, computed by DuckDB in one scan and two cheap ones.

Counts, nulls, min and max come first: over Parquet, DuckDB answers them from the files'
statistics without reading data (not for booleans: asking for theirs makes it scan, so
they come later). One scan then takes approximate distinct counts (HyperLogLog), means and
equal-width histograms of numbers (20 bins over [min, max]); a last, narrow one counts the
values of low-cardinality columns. Values are made JSON-safe for storage.
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
    bounds = ["count(*)"]
    for name, type_ in schema:
        col = ident(name)
        early = _is_ordered(type_) and type_ != "BOOLEAN"  # booleans would force a scan
        bounds += [f"count({col})", f"min({col})" if early else "NULL",
                   f"max({col})" if early else "NULL"]  # fmt: skip
    first = con.execute(f"SELECT {', '.join(bounds)} FROM {relation}").fetchall()[0]
    total = int(first[0])
    columns: list[dict[str, Any]] = []
    scan: list[str] = []
    for i, (name, type_) in enumerate(schema):
        count, lo, hi = first[1 + 3 * i : 4 + 3 * i]
        column = {"name": name, "type": type_, "count": int(count), "nulls": total - int(count),
                  "min": lo, "max": hi, "edges": None}  # fmt: skip
        col = ident(name)
        scan.append(f"approx_count_distinct({col})" if _is_ordered(type_) else "NULL")
        scan.append(f"avg({col})::DOUBLE" if _is_numeric(type_) else "NULL")
        column["edges"] = _edges(lo, hi) if _is_numeric(type_) and count else None
        scan.append(
            f"histogram({col}::DOUBLE, {_doubles(column['edges'][1:-1])})"
            if column["edges"]
            else "NULL"
        )
        scan += [f"min({col})", f"max({col})"] if type_ == "BOOLEAN" else ["NULL", "NULL"]
        columns.append(column)
    second = con.execute(f"SELECT {', '.join(scan)} FROM {relation}").fetchall()[0]
    histograms: dict[str, dict[str, list[Any]]] = {}
    for i, column in enumerate(columns):
        distinct, mean, binned, lo, hi = second[5 * i : 5 * i + 5]
        if column["type"] == "BOOLEAN":
            column["min"], column["max"] = lo, hi
        # HyperLogLog can overshoot by a few percent: never more distinct values than values
        column["distinct"] = None if distinct is None else min(int(distinct), column["count"])
        column["mean"] = json_safe(mean)
        if column["edges"]:
            buckets = {float(k): int(n) for k, n in dict(binned or {}).items()}
            uppers = column["edges"][1:-1]  # the last bin takes everything above them
            counts = [buckets.pop(edge, 0) for edge in uppers] + [sum(buckets.values())]
            histograms[column["name"]] = {"edges": column["edges"], "counts": counts}
    histograms.update(_value_counts(con, relation, columns))
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
        for c in columns
    ]


def _edges(lo: Any, hi: Any) -> list[float] | None:
    """``BINS + 1`` equal-width edges over [lo, hi], when both are finite."""
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        return None
    width = (hi_f - lo_f) / BINS or 1.0
    return [lo_f + width * i for i in range(BINS + 1)]


def _doubles(values: list[float]) -> str:
    return "[" + ", ".join(f"{literal(v)}::DOUBLE" for v in values) + "]"


def _value_counts(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[dict[str, Any]]
) -> dict[str, dict[str, list[Any]]]:
    """Counts of each value of the low-cardinality columns (for a handful of values they
    read better than bins): text, booleans and numbers with at most ``BINS`` values."""
    chosen = [
        c["name"]
        for c in columns
        if c["count"]
        and c["distinct"] is not None
        and c["distinct"] <= (BINS if _is_numeric(c["type"]) else TOP_VALUES)
    ]
    if not chosen:
        return {}
    exprs = ", ".join(f"histogram({ident(name)})" for name in chosen)
    row = con.execute(f"SELECT {exprs} FROM {relation}").fetchall()[0]
    out: dict[str, dict[str, list[Any]]] = {}
    for name, counts in zip(chosen, row, strict=True):
        ranked = sorted(dict(counts or {}).items(), key=lambda kv: (-kv[1], str(kv[0])))
        out[name] = {
            "values": [json_safe(v) for v, _ in ranked],
            "counts": [int(n) for _, n in ranked],
        }
    return out
