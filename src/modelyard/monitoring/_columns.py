"""Columns out of the tables drift is computed on, as NumPy arrays and counts per value.

Both sides go through here, so a reference profile and a current window see the same
values: nulls, NaN and infinities are left out (as Evidently drops them), numbers become
sorted float64 arrays, categories become their Arrow string form (``true``, ``3``, ``DE``)
with a count each. A DuckDB relation is read one projected column at a time, so only one
column is ever held in memory beyond what the caller passed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import ValidationError

__all__ = [
    "Family",
    "Table",
    "as_table",
    "category_counts",
    "column_names",
    "column_types",
    "family_of",
    "iter_columns",
    "numeric_values",
    "row_count",
]

Table: TypeAlias = "pa.Table | pa.RecordBatch | duckdb.DuckDBPyRelation | Mapping[str, Any]"
Family = str  # "number", "bool", "text" or "other"


def as_table(data: Table) -> pa.Table | duckdb.DuckDBPyRelation:
    """Arrow tables and DuckDB relations as they are; record batches and dicts of arrays
    as Arrow tables."""
    if isinstance(data, pa.Table | duckdb.DuckDBPyRelation):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Mapping):
        try:
            return pa.table({str(k): _array(v) for k, v in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ValidationError(f"cannot read the columns as a table: {exc}") from exc
    raise ValidationError(
        "drift data must be a pyarrow Table or RecordBatch, a DuckDB relation or a mapping of "
        f"column names to arrays, not {type(data).__name__}"
    )


def _array(values: Any) -> Any:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return pa.array(values.tolist())
    return values


def column_names(data: pa.Table | duckdb.DuckDBPyRelation) -> list[str]:
    return list(data.column_names if isinstance(data, pa.Table) else data.columns)


def row_count(data: pa.Table | duckdb.DuckDBPyRelation) -> int:
    if isinstance(data, pa.Table):
        return int(data.num_rows)
    return int(data.aggregate("count(*)").fetchall()[0][0])


def column_types(data: pa.Table | duckdb.DuckDBPyRelation) -> dict[str, pa.DataType]:
    """The Arrow type of every column (for a relation, from an empty result)."""
    if isinstance(data, pa.Table):
        return {f.name: f.type for f in data.schema}
    return {f.name: f.type for f in data.limit(0).to_arrow_table().schema}


def iter_columns(
    data: pa.Table | duckdb.DuckDBPyRelation, names: Sequence[str]
) -> Iterator[tuple[str, pa.ChunkedArray]]:
    """Each named column as an Arrow array, reading a relation one column at a time."""
    for name in names:
        if isinstance(data, pa.Table):
            yield name, data.column(name)
        else:
            quoted = '"' + name.replace('"', '""') + '"'
            yield name, data.select(quoted).to_arrow_table().column(0)


def family_of(type_: pa.DataType) -> Family:
    """What kind of values an Arrow type holds, for matching reference and current."""
    if pa.types.is_dictionary(type_):
        return family_of(type_.value_type)
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "number"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "text"
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(type_):
        return "text"
    return "other"


def numeric_values(column: pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], int]:
    """The finite values of a number column, sorted, as float64; and how many were left
    out (nulls, NaN, infinities)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    rows = len(column)
    if column.null_count:
        column = pc.drop_null(column)
    values = column.cast(pa.float64()).to_numpy()
    finite = np.isfinite(values)
    values = np.sort(values if finite.all() else values[finite])
    return values, rows - values.size


def category_counts(column: pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The distinct values of a column as strings (an object array) and their counts;
    nulls and NaN are left out."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_floating(column.type):
        column = pc.filter(column, pc.is_finite(column))
    counted = pc.value_counts(column)
    values, counts = counted.field(0), counted.field(1)
    present = pc.is_valid(values)
    labels = pc.filter(values, present).cast(pa.string())
    return (
        np.asarray(labels.to_pylist(), dtype=object),
        pc.filter(counts, present).to_numpy().astype(np.int64),
    )


def nulls_left_out(column: pa.ChunkedArray, counts: np.ndarray[Any, Any]) -> int:
    return len(column) - int(counts.sum())
