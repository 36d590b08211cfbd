"""Distribution drift between a reference sample and a current one, with Evidently's defaults.

The method is chosen as Evidently's default data drift algorithm does: with at most 1000
reference values, a two-sample Kolmogorov-Smirnov test for numbers and a chi-square test
for categories (and for numbers with at most 5 distinct values), drift when p < 0.05; above
1000, the Wasserstein distance normed by the reference standard deviation for numbers and
the Jensen-Shannon distance for categories (and few-valued numbers), drift when the
distance is at least 0.1. ``ks``, ``chisquare``, ``wasserstein``, ``jensenshannon`` and
``psi`` (drift when at least 0.1) can also be named. The statistics come from scipy.

The chi-square test is the two-sample test of homogeneity (``chi2_contingency`` on the
reference and current counts, without Yates' correction): unlike a goodness-of-fit test
against reference frequencies it handles categories only one side has, and for two
categories it equals the two-proportion z-test Evidently uses there. Nulls are dropped.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from modelyard.data._stats import json_safe
from modelyard.errors import ValidationError

__all__ = [
    "CATEGORY_LIMIT",
    "METHODS",
    "DriftResult",
    "Kind",
    "column_kind",
    "drift",
    "jensenshannon",
    "psi",
]

Kind = Literal["numeric", "categorical"]
METHODS = ("chisquare", "jensenshannon", "ks", "psi", "wasserstein")
CATEGORY_LIMIT = 1000  # text columns with more distinct values are not compared by default

_DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
_P_VALUE_METHODS = ("ks", "chisquare")
_NUMERIC_ONLY = ("ks", "wasserstein")
_SMALL = 1000  # reference sizes up to this get statistical tests, above it distances
_FEW_VALUES = 5  # numbers with at most this many distinct values are compared as categories
_BIN_ABOVE = 20  # numbers with more distinct reference values are binned (Sturges) for JS/PSI
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL")  # fmt: skip
_TEXT_TYPES = ("VARCHAR", "ENUM", "UUID", "CHAR", "BPCHAR", "TEXT", "STRING")


@dataclass(frozen=True, slots=True)
class DriftResult:
    """The outcome of comparing two samples with one method.

    ``statistic`` is the p-value's test statistic for ``ks`` and ``chisquare`` (the
    decision uses ``p_value``), otherwise the distance itself; NaN when a sample is empty.
    """

    method: str
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-safe values (NaN becomes None)."""
        return {
            "method": self.method,
            "statistic": json_safe(self.statistic),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "p_value": json_safe(self.p_value),
            "details": dict(self.details),
        }


def column_kind(
    duckdb_type: str, distinct: int | None = None
) -> Literal["numeric", "categorical", "unsupported"]:
    """How a column of ``duckdb_type`` is compared for drift.

    Numbers are ``numeric``; booleans and text are ``categorical``, unless ``distinct``
    (the number of distinct values, when known) is over :data:`CATEGORY_LIMIT`: such
    columns (ids, free text) always look drifted. Dates, timestamps (which move on with
    every load), nested and binary types are ``unsupported``.
    """
    type_ = duckdb_type.strip().upper()
    if type_ in _NUMERIC_TYPES or type_.startswith("DECIMAL"):
        return "numeric"
    if type_ == "BOOLEAN":
        return "categorical"
    if type_.startswith(_TEXT_TYPES) and not type_.endswith("[]"):
        return "categorical" if distinct is None or distinct <= CATEGORY_LIMIT else "unsupported"
    return "unsupported"


def drift(
    reference: pa.Array | pa.ChunkedArray | np.ndarray[Any, Any] | Sequence[Any],
    current: pa.Array | pa.ChunkedArray | np.ndarray[Any, Any] | Sequence[Any],
    *,
    kind: Kind | None = None,
    method: str = "auto",
    threshold: float | None = None,
) -> DriftResult:
    """Whether ``current`` has drifted from ``reference``.

    Args:
        reference: the baseline values (nulls and NaN are dropped).
        current: the values to compare with it.
        kind: ``numeric`` or ``categorical``; inferred from the values when None.
        method: ``auto`` (Evidently's default choice) or one of :data:`METHODS`.
        threshold: the p-value or distance at which drift is declared; the method's
            Evidently default when None.

    Returns:
        The method used, its statistic, the threshold and the decision.

    Raises:
        ValidationError: an unknown method or kind, or ``ks``/``wasserstein`` asked for
            categorical values.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> drift(rng.normal(0, 1, 500), rng.normal(1, 1, 500)).drifted
        True
    """
    if method != "auto" and method not in METHODS:
        raise ValidationError(
            f"unknown drift method {method!r}; use 'auto' or one of {', '.join(METHODS)}"
        )
    if kind not in (None, "numeric", "categorical"):
        raise ValidationError(f"drift kind must be 'numeric' or 'categorical', not {kind!r}")
    if threshold is not None and not (isinstance(threshold, int | float) and threshold > 0):
        raise ValidationError(f"drift threshold must be a positive number, not {threshold!r}")
    ref_values, cur_values = _values(reference), _values(current)
    resolved: Kind = kind or _infer_kind(ref_values + cur_values)
    if method in _NUMERIC_ONLY and resolved == "categorical":
        raise ValidationError(f"drift method {method!r} needs numeric values")
    ref: np.ndarray[Any, Any] | list[Any] = ref_values
    cur: np.ndarray[Any, Any] | list[Any] = cur_values
    if resolved == "numeric":
        ref, cur = _floats(ref_values), _floats(cur_values)
    distinct = len(set(ref_values) | set(cur_values))
    chosen = method if method != "auto" else _default_method(resolved, len(ref), distinct)
    limit = float(threshold if threshold is not None else _DEFAULT_THRESHOLDS[chosen])
    details: dict[str, Any] = {
        "kind": resolved,
        "reference_count": len(ref),
        "current_count": len(cur),
        "distinct": distinct,
    }
    if len(ref) == 0 or len(cur) == 0:
        details["reason"] = "a sample has no non-null values"
        return DriftResult(chosen, math.nan, limit, False, None, details)
    statistic, p_value = _compute(chosen, resolved, ref, cur)
    drifted = p_value < limit if p_value is not None else statistic >= limit
    return DriftResult(chosen, statistic, limit, bool(drifted), p_value, details)


def _values(data: Any) -> list[Any]:
    if isinstance(data, pa.ChunkedArray | pa.Array):
        data = data.to_pylist()
    elif isinstance(data, np.ndarray):
        data = data.tolist()
    return [v for v in data if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _infer_kind(values: list[Any]) -> Kind:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return "numeric" if values and numbers else "categorical"


def _floats(values: list[Any]) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"numeric drift needs numbers: {exc}") from exc


def _default_method(kind: Kind, reference_size: int, distinct: int) -> str:
    categorical = kind == "categorical" or distinct <= _FEW_VALUES
    if reference_size <= _SMALL:
        return "chisquare" if categorical else "ks"
    return "jensenshannon" if categorical else "wasserstein"


def _compute(method: str, kind: Kind, ref: Any, cur: Any) -> tuple[float, float | None]:
    # scipy is imported here, not at module level: it costs a second to import
    from scipy import spatial, stats  # type: ignore[import-untyped]

    if method == "ks":
        with warnings.catch_warnings():  # scipy falls back to the asymptotic p-value
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            result = stats.ks_2samp(ref, cur)
        return float(result.statistic), float(result.pvalue)
    if method == "wasserstein":
        norm = max(float(np.std(ref)), 0.001)
        return float(stats.wasserstein_distance(ref, cur)) / norm, None
    if method == "chisquare":
        ref_counts, cur_counts = _counts(ref, cur)
        if len(ref_counts) < 2:  # one category on both sides: nothing can differ
            return 0.0, 1.0
        table = np.vstack([ref_counts, cur_counts])
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
        return float(chi2), float(p_value)
    ref_share, cur_share = _shares(kind, ref, cur)
    if method == "jensenshannon":
        return float(spatial.distance.jensenshannon(ref_share, cur_share)), None
    return psi(ref_share, cur_share), None


def psi(reference: np.ndarray[Any, Any], current: np.ndarray[Any, Any]) -> float:
    """Population stability index between two histograms over the same buckets (counts or
    shares): zero shares are filled as Evidently does, then sum (r - c) * ln(r / c)."""
    from scipy import special

    ref_share = _fill_zeros(reference / reference.sum())
    cur_share = _fill_zeros(current / current.sum())
    value = special.rel_entr(ref_share, cur_share) + special.rel_entr(cur_share, ref_share)
    return float(np.sum(value))


def jensenshannon(reference: np.ndarray[Any, Any], current: np.ndarray[Any, Any]) -> float:
    """Jensen-Shannon distance between two histograms over the same buckets."""
    from scipy import spatial

    return float(spatial.distance.jensenshannon(reference, current))


def _counts(ref: Any, cur: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Counts of each value on both sides, over the union of values in a fixed order."""
    ref_counter, cur_counter = Counter(list(ref)), Counter(list(cur))
    keys = sorted(set(ref_counter) | set(cur_counter), key=lambda v: (type(v).__name__, v))
    return (
        np.array([ref_counter[k] for k in keys], dtype=np.float64),
        np.array([cur_counter[k] for k in keys], dtype=np.float64),
    )


def _shares(kind: Kind, ref: Any, cur: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Shares per bucket: Sturges bins over both samples for numbers with more than 20
    distinct reference values, otherwise one bucket per value (as Evidently bins)."""
    if kind == "numeric" and len(np.unique(ref)) > _BIN_ABOVE:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        ref_counts = np.histogram(ref, edges)[0].astype(np.float64)
        cur_counts = np.histogram(cur, edges)[0].astype(np.float64)
    else:
        ref_counts, cur_counts = _counts(ref, cur)
    return ref_counts / len(ref), cur_counts / len(cur)


def _fill_zeros(shares: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    smallest = float(shares[shares > 0].min())
    fill = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, fill, shares)
