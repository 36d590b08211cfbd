"""Drift of a window of production data from a reference profile, column by column.

Each column gets a method chosen as Evidently's default data drift does
(``evidently.legacy.calculations.stattests.registry._get_default_stattest``), where
"values" counts the distinct values of reference and current together:

================  ==============================  =====================================
reference rows    numeric                         categorical
================  ==============================  =====================================
1000 or fewer     KS if more than 5 values,       chi-square if more than 2 values,
                  else as categorical             else Z-test (p < 0.05; KS p <= 0.05)
more than 1000    normed Wasserstein >= 0.1 if    Jensen-Shannon distance >= 0.1
                  more than 5 values, else JS
================  ==============================  =====================================

The dataset drifts when the share of drifted columns is at least ``drift_share`` (0.5).
Any column can be given another method (:class:`DriftMethod`) and threshold. One thing
differs from Evidently by default: the chi-square test is the contingency test of
homogeneity (reference and current are both samples), not Evidently's goodness-of-fit
test against the reference shares, which flags 23% to 72% of unchanged columns of 3 to 20
categories at 1,000 rows a side instead of 5%; ``DriftOptions(evidently_compat=True)``
gives Evidently's test and verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

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
from modelyard.monitoring._methods import ColumnKind, DriftMethod, parse_method
from modelyard.monitoring._profile import ColumnProfile, ReferenceProfile, build_profile
from modelyard.monitoring._results import ColumnDrift, DatasetDrift
from modelyard.monitoring._stattests import Counts, CurrentNumbers, compare

__all__ = ["DriftOptions", "column_drift", "default_method", "detect_drift", "prediction_drift"]

SMALL_REFERENCE = 1000  # references up to this many values get tests, above it distances
FEW_VALUES = 5  # numbers with at most this many values (both sides) are compared per value


@dataclass(frozen=True)
class DriftOptions:
    """How columns are compared; every field is optional.

    Args:
        method: the method for every column (instead of Evidently's default choice).
        threshold: the threshold for every column (instead of the method's default).
        methods: per column, a method over ``method``.
        thresholds: per column, a threshold over ``threshold``.
        drift_share: the share of drifted columns at which the dataset drifts.
        evidently_compat: Evidently's chi-square (goodness of fit against the reference
            shares) instead of the contingency test.
    """

    method: DriftMethod | None = None
    threshold: float | None = None
    methods: Mapping[str, DriftMethod] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    evidently_compat: bool = False

    def __post_init__(self) -> None:
        if self.method is not None:
            object.__setattr__(self, "method", parse_method(self.method))
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _threshold(self.threshold))
        methods = {str(c): parse_method(m, c) for c, m in dict(self.methods).items()}
        thresholds = {str(c): _threshold(t, c) for c, t in dict(self.thresholds).items()}
        object.__setattr__(self, "methods", MappingProxyType(methods))
        object.__setattr__(self, "thresholds", MappingProxyType(thresholds))
        share = self.drift_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise ValidationError(f"drift_share must be in (0, 1], not {share!r}")
        object.__setattr__(self, "drift_share", float(share))
        if not isinstance(self.evidently_compat, bool):
            raise ValidationError(
                f"evidently_compat must be True or False, not {self.evidently_compat!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": None if self.method is None else self.method.value,
            "threshold": self.threshold,
            "methods": {c: m.value for c, m in self.methods.items()},
            "thresholds": dict(self.thresholds),
            "drift_share": self.drift_share,
            "evidently_compat": self.evidently_compat,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"unknown drift options {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**data)


def _threshold(value: Any, column: str | None = None) -> float:
    where = f" for column {column!r}" if column is not None else ""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"drift threshold{where} must be a positive number, not {value!r}")
    if not math.isfinite(value):
        raise ValidationError(f"drift threshold{where} must be finite, not {value!r}")
    return float(value)


def default_method(kind: ColumnKind, reference_count: int, values: int) -> DriftMethod:
    """Evidently's default method for a column with ``reference_count`` reference values
    and ``values`` distinct values on both sides together."""
    few = kind is ColumnKind.CATEGORICAL or values <= FEW_VALUES
    if reference_count <= SMALL_REFERENCE:
        if not few:
            return DriftMethod.KS
        return DriftMethod.CHISQUARE if values > 2 else DriftMethod.Z
    return DriftMethod.JENSENSHANNON if few else DriftMethod.WASSERSTEIN


def detect_drift(
    reference: ReferenceProfile | Table,
    current: Table,
    *,
    columns: Sequence[str] | None = None,
    options: DriftOptions | None = None,
) -> DatasetDrift:
    """Compare ``current`` (an Arrow table or batch, a DuckDB relation, or a mapping of
    column names to arrays) with a reference profile, column by column.

    Args:
        reference: a stored profile (:func:`build_profile`), or reference data to profile
            now.
        columns: the columns to compare; every profiled column when None.
        options: methods, thresholds, the drift share and the chi-square flavour.

    Raises:
        ValidationError: an empty window, a column that is unknown or missing from the
            window, a column whose values changed type or has no values in the window, a
            method that cannot compare a column.

    Example:
        >>> profile = build_profile(train)          # once, stored with the model
        >>> result = detect_drift(profile, window)
        >>> result.drifted, result.drifted_columns
        (True, ('amount',))
    """
    opts = options or DriftOptions()
    if not isinstance(reference, ReferenceProfile):
        reference = build_profile(reference, columns=columns)
    data = as_table(current)
    wanted = _wanted(reference, columns, opts)
    available = column_names(data)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise ValidationError(
            f"column {missing[0]!r} is not in the current data; its columns: "
            f"{', '.join(available) or 'none'}",
            details={"column": missing[0], "columns": available},
        )
    rows = row_count(data)
    if rows == 0:
        raise ValidationError("the current window has no rows")
    types = column_types(data)
    results = [
        _column(reference.column(name), values, types[name], opts)
        for name, values in iter_columns(data, wanted)
    ]
    return DatasetDrift(
        columns=tuple(results),
        drift_share=opts.drift_share,
        evidently_compat=opts.evidently_compat,
        reference_rows=reference.rows,
        current_rows=rows,
        source=reference.source,
    )


def column_drift(
    reference: ReferenceProfile,
    current: Table,
    column: str,
    *,
    method: DriftMethod | str | None = None,
    threshold: float | None = None,
    evidently_compat: bool = False,
) -> ColumnDrift:
    """The drift of one column (see :func:`detect_drift`)."""
    options = DriftOptions(
        methods={column: parse_method(method, column)} if method is not None else {},
        thresholds={column: threshold} if threshold is not None else {},
        evidently_compat=evidently_compat,
    )
    return detect_drift(reference, current, columns=[column], options=options).columns[0]


def prediction_drift(
    reference: ReferenceProfile,
    current: Table,
    column: str = "prediction",
    *,
    method: DriftMethod | str | None = None,
    threshold: float | None = None,
    evidently_compat: bool = False,
) -> ColumnDrift:
    """The drift of the model's predictions: the same engine on the prediction column
    (profile the predictions on the reference data, e.g. the validation set, once)."""
    return column_drift(
        reference,
        current,
        column,
        method=method,
        threshold=threshold,
        evidently_compat=evidently_compat,
    )


def _wanted(
    profile: ReferenceProfile, columns: Sequence[str] | None, opts: DriftOptions
) -> list[str]:
    if columns is None:
        wanted = list(profile.columns)
    else:
        wanted = [columns] if isinstance(columns, str) else list(dict.fromkeys(columns))
        for name in wanted:
            profile.column(name)  # unknown columns raise, naming the known ones
    for name in [*opts.methods, *opts.thresholds]:
        if name not in wanted:
            known = ", ".join(wanted) or "none"
            raise ValidationError(
                f"drift option for unknown column {name!r}; compared columns: {known}"
            )
    return wanted


def _column(
    ref: ColumnProfile, values: pa.ChunkedArray, type_: pa.DataType, opts: DriftOptions
) -> ColumnDrift:
    found = family_of(type_)
    if found != ref.family:
        raise ValidationError(
            f"column {ref.name!r} is {ref.dtype} in the reference but {type_} in the current data",
            details={"column": ref.name, "reference": ref.dtype, "current": str(type_)},
        )
    current: CurrentNumbers | Counts
    if ref.kind is ColumnKind.NUMERIC:
        current = CurrentNumbers(numeric_values(values)[0])
    else:
        labels, counts = category_counts(values)
        current = Counts(labels, counts, numeric_order=ref.family == "number")
    if current.n == 0:
        raise ValidationError(
            f"column {ref.name!r} has no values in the current window (all null)",
            details={"column": ref.name},
        )
    method = opts.methods.get(ref.name, opts.method) or _auto(ref, current)
    _check_fits(method, ref)
    threshold = opts.thresholds.get(ref.name, opts.threshold) or method.default_threshold
    outcome = compare(method, ref, current, compat=opts.evidently_compat)
    return ColumnDrift(
        column=ref.name,
        kind=ref.kind,
        method=method,
        score=outcome.score,
        threshold=threshold,
        drifted=method.drifted(outcome.score, threshold),
        statistic=outcome.statistic,
        p_value=outcome.p_value,
        reference_count=ref.count,
        current_count=current.n,
        histogram=outcome.histogram,
    )


def _auto(ref: ColumnProfile, current: CurrentNumbers | Counts) -> DriftMethod:
    """Evidently's choice; the values of both sides are counted only when the reference's
    few values leave the choice open."""
    values = ref.n_unique
    if values <= FEW_VALUES:
        theirs = current.labels if isinstance(current, Counts) else current.distinct[0]
        values = int(np.union1d(ref.values, theirs).size)
    return default_method(ref.kind, ref.count, values)


def _check_fits(method: DriftMethod, ref: ColumnProfile) -> None:
    if method.numeric_only and ref.kind is ColumnKind.CATEGORICAL:
        raise ValidationError(
            f"drift method {method.value!r} compares numbers; column {ref.name!r} is "
            f"categorical ({ref.dtype})",
            details={"column": ref.name, "method": method.value},
        )
    if method.per_value and ref.counts is None:
        raise ValidationError(
            f"drift method {method.value!r} needs counts per value; column {ref.name!r} has "
            f"{ref.n_unique} distinct values in the reference, kept as quantiles",
            details={"column": ref.name, "method": method.value},
        )
