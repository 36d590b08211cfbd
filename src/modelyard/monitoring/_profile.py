"""The reference profile: what drift needs to know about the reference data, computed once.

A drift check compares a window of production data with a :class:`ReferenceProfile`, never
with the reference rows again. Per column the profile keeps the count, nulls, distinct
count, and the distribution:

- categories (text, booleans, integers with at most 10 values): the count of every value;
- numbers with at most ``resolution`` distinct values (every reference of 1000 rows or
  fewer): every distinct value with its count, which is the exact data, so the tests give
  exactly what they give on the raw rows;
- other numbers: ``resolution + 1`` quantiles plus the exact mean, standard deviation,
  minimum and maximum. The quantile levels (:func:`sketch_levels`) are spaced like
  t-digest's: dense at both tails, where a few extreme values weigh most in a distance,
  so the sketch holds the extremes almost exactly. Between two quantiles the distribution
  is taken as uniform. At the default resolution of 4096, normed Wasserstein distances
  from a sketch of 100,000 values or more differ from the exact ones by about 1e-5 for
  normal, exponential or log-normal data (1e-3 for very heavy tails such as Student's t
  with 2 degrees of freedom).

Column kinds follow Evidently's inference: floats are numeric, integers numeric unless they
have at most 10 distinct values, booleans and text categorical, text with more distinct
values than half its rows is free text and not compared; other types are not compared.
Evidently infers kinds from the current data, modelyard from the reference (the profile
is made before any window is seen); ``kinds`` overrides the inference.
A profile is stored as bytes (:meth:`ReferenceProfile.to_bytes`, Arrow IPC).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from modelyard.errors import ValidationError
from modelyard.monitoring._columns import (
    Table,
    as_table,
    category_counts,
    column_names,
    column_types,
    family_of,
    iter_columns,
    numeric_values,
    row_count,
)
from modelyard.monitoring._methods import ColumnKind

if TYPE_CHECKING:
    from modelyard.data import DatasetStore, DatasetVersion

__all__ = [
    "ColumnProfile",
    "ReferenceProfile",
    "build_profile",
    "profile_dataset",
    "sketch_levels",
]

DEFAULT_RESOLUTION = 4096
INTEGER_CATEGORY_LIMIT = 10  # Evidently's INTEGER_CARDINALITY_LIMIT
MAX_CATEGORIES = 10_000


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """One reference column's distribution.

    ``values`` holds the distinct values, sorted, with their ``counts`` (category labels
    for categorical columns, numbers for exact numeric ones), or, when ``counts`` is None,
    the quantiles of a numeric sketch at :func:`sketch_levels`.
    """

    name: str
    kind: ColumnKind
    dtype: str
    family: str
    count: int
    nulls: int
    n_unique: int
    values: np.ndarray[Any, Any]
    counts: np.ndarray[Any, Any] | None
    mean: float = math.nan
    std: float = math.nan
    min: float = math.nan
    max: float = math.nan

    @property
    def exact(self) -> bool:
        """Whether the distribution is held exactly (a count per value), not sketched."""
        return self.counts is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe values (for reports and the API)."""
        stats = {"mean": self.mean, "std": self.std, "min": self.min, "max": self.max}
        return {
            "name": self.name,
            "kind": self.kind.value,
            "dtype": self.dtype,
            "family": self.family,
            "count": self.count,
            "nulls": self.nulls,
            "n_unique": self.n_unique,
            "exact": self.exact,
            "values": self.values.tolist(),
            "counts": None if self.counts is None else self.counts.tolist(),
            **{k: (v if math.isfinite(v) else None) for k, v in stats.items()},
        }


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Everything drift needs about a reference table, column by column.

    Example:
        >>> profile = build_profile(training_table)
        >>> blob = profile.to_bytes()            # store it with the model
        >>> detect_drift(ReferenceProfile.from_bytes(blob), window).drifted
        False
    """

    rows: int
    columns: Mapping[str, ColumnProfile]
    skipped: Mapping[str, str] = field(default_factory=dict)
    resolution: int = DEFAULT_RESOLUTION
    source: str | None = None

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``; a ValidationError naming the known ones if none."""
        try:
            return self.columns[name]
        except KeyError:
            raise _unknown_column(name, list(self.columns), self.skipped) from None

    def to_bytes(self) -> bytes:
        """The profile as an Arrow IPC stream (see :meth:`from_bytes`)."""
        from modelyard.monitoring._profile_io import dump

        return dump(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """A profile stored by :meth:`to_bytes`; a ValidationError if ``data`` is not one."""
        from modelyard.monitoring._profile_io import load

        return load(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "resolution": self.resolution,
            "source": self.source,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
            "skipped": dict(self.skipped),
        }


def build_profile(
    reference: Table,
    *,
    columns: Sequence[str] | None = None,
    kinds: Mapping[str, ColumnKind | str] | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    source: str | None = None,
) -> ReferenceProfile:
    """Profile ``reference`` (an Arrow table or batch, a DuckDB relation, or a mapping of
    column names to arrays) for later drift checks.

    Args:
        columns: the columns to profile; all that can be compared when None (the others
            are listed in ``skipped`` with the reason).
        kinds: per column, ``numeric`` or ``categorical`` instead of the inferred kind.
        resolution: numbers with more distinct values are kept as this many quantile
            intervals; fewer are kept exactly.
        source: where the data came from (e.g. a dataset version ref), kept in the profile.

    Raises:
        ValidationError: no rows, an unknown column or kind, a named column that cannot be
            compared (its type, or no values), ``numeric`` asked for non-numbers.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValidationError(f"resolution must be an integer of at least 2, not {resolution!r}")
    data = as_table(reference)
    names = column_names(data)
    wanted = _wanted(columns, names)
    forced = _kinds(kinds, wanted)
    rows = row_count(data)
    if rows == 0:
        raise ValidationError("the reference has no rows to profile")
    types = column_types(data)
    skipped = {
        n: f"{types[n]} columns are not compared" for n in wanted if not _comparable(types[n])
    }
    named = columns is not None  # a named column that cannot be compared is an error
    if named and skipped:
        raise _cannot_compare(*next(iter(skipped.items())))
    profiled: dict[str, ColumnProfile] = {}
    for name, column in iter_columns(data, [n for n in wanted if n not in skipped]):
        made = _profile_column(name, column, forced.get(name), resolution)
        if isinstance(made, ColumnProfile):
            profiled[name] = made
        elif named:
            raise _cannot_compare(name, made)
        else:
            skipped[name] = made
    return ReferenceProfile(rows, profiled, skipped, resolution, source)


def profile_dataset(
    store: DatasetStore,
    ref: str | DatasetVersion,
    *,
    columns: Sequence[str] | None = None,
    kinds: Mapping[str, ColumnKind | str] | None = None,
    resolution: int = DEFAULT_RESOLUTION,
) -> ReferenceProfile:
    """Profile a dataset version (read one column at a time from its Parquet parts by
    DuckDB); the profile's ``source`` is the version's ref."""
    from modelyard.data._duck import connect  # the data package is heavy to import

    version = store.get(ref) if isinstance(ref, str) else ref
    con = connect(store.settings)
    try:
        relation = con.sql(f"SELECT * FROM {store.relation(version, con)}")
        return build_profile(
            relation, columns=columns, kinds=kinds, resolution=resolution, source=version.ref
        )
    finally:
        con.close()


def _profile_column(
    name: str, column: pa.ChunkedArray, kind: ColumnKind | None, resolution: int
) -> ColumnProfile | str:
    """The profile of one column, or why it is not compared."""
    kin = family_of(column.type)
    dtype = str(column.type)
    if kind is ColumnKind.NUMERIC and kin != "number":
        raise ValidationError(f"column {name!r} is {dtype}; numeric drift needs numbers")
    if kin == "number" and kind is not ColumnKind.CATEGORICAL:
        values, nulls = numeric_values(column)
        if values.size == 0:
            return "no values (all null or not finite)"
        distinct, counts = _distinct(values)
        integers = pa.types.is_integer(column.type)
        if kind is None and integers and distinct.size <= INTEGER_CATEGORY_LIMIT:
            return _categorical(name, column, dtype)
        return _numeric(name, dtype, values, nulls, distinct, counts, resolution)
    return _categorical(name, column, dtype, inferred=kind is None)


def _numeric(
    name: str,
    dtype: str,
    values: np.ndarray[Any, Any],
    nulls: int,
    distinct: np.ndarray[Any, Any],
    counts: np.ndarray[Any, Any],
    resolution: int,
) -> ColumnProfile:
    exact = distinct.size <= resolution
    kept = distinct if exact else np.quantile(values, sketch_levels(resolution + 1))
    return ColumnProfile(
        name=name,
        kind=ColumnKind.NUMERIC,
        dtype=dtype,
        family="number",
        count=int(values.size),
        nulls=nulls,
        n_unique=int(distinct.size),
        values=kept,
        counts=counts if exact else None,
        mean=float(np.mean(values)),
        std=float(np.std(values)),
        min=float(values[0]),
        max=float(values[-1]),
    )


def _categorical(
    name: str, column: pa.ChunkedArray, dtype: str, *, inferred: bool = True
) -> ColumnProfile | str:
    labels, counts = category_counts(column)
    count = int(counts.sum())
    if count == 0:
        return "no values (all null)"
    if inferred and family_of(column.type) == "text" and labels.size > count * 0.5:
        return f"free text ({labels.size} distinct values in {count} rows)"
    if labels.size > MAX_CATEGORIES:
        return f"{labels.size} distinct values, over the {MAX_CATEGORIES} categories compared"
    order = np.argsort(labels)
    return ColumnProfile(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        dtype=dtype,
        family=family_of(column.type),
        count=count,
        nulls=len(column) - count,
        n_unique=int(labels.size),
        values=labels[order],
        counts=counts[order],
    )


@functools.lru_cache(maxsize=8)
def sketch_levels(size: int) -> np.ndarray[Any, Any]:
    """The ``size`` quantile levels of a sketch, from 0 to 1: ``(1 - cos(pi * i / k)) / 2``
    for ``i`` in ``0..k``, dense at the tails (t-digest's scale)."""
    levels = np.asarray((1.0 - np.cos(np.pi * np.arange(size) / (size - 1))) / 2.0)
    levels.flags.writeable = False  # shared by every caller
    return levels


def _distinct(values: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Distinct values and counts of a sorted array, without sorting it again."""
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size)).astype(np.int64)
    return values[starts], counts


def _comparable(type_: pa.DataType) -> bool:
    return family_of(type_) != "other"


def _wanted(columns: Sequence[str] | None, names: list[str]) -> list[str]:
    if columns is None:
        return names
    if isinstance(columns, str):
        columns = [columns]
    for name in columns:
        if name not in names:
            raise _unknown_column(name, names)
    return list(dict.fromkeys(columns))


def _kinds(
    kinds: Mapping[str, ColumnKind | str] | None, wanted: list[str]
) -> dict[str, ColumnKind]:
    parsed: dict[str, ColumnKind] = {}
    for name, kind in (kinds or {}).items():
        if name not in wanted:
            raise _unknown_column(name, wanted)
        try:
            parsed[name] = ColumnKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in ColumnKind)
            raise ValidationError(
                f"unknown column kind {kind!r} for column {name!r}; use one of {known}"
            ) from None
    return parsed


def _cannot_compare(name: str, reason: str) -> ValidationError:
    return ValidationError(
        f"column {name!r} cannot be compared: {reason}",
        details={"column": name, "reason": reason},
    )


def _unknown_column(
    name: str, known: list[str], skipped: Mapping[str, str] | None = None
) -> ValidationError:
    if skipped and name in skipped:
        return ValidationError(
            f"column {name!r} is not in the profile: {skipped[name]}",
            details={"column": name, "reason": skipped[name]},
        )
    listed = ", ".join(known) or "none"
    return ValidationError(
        f"unknown column {name!r}; known columns: {listed}",
        details={"column": name, "known": known},
    )
