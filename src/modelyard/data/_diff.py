"""What changed between two dataset versions: schema, row count, column statistics, drift.

Only the stored statistics are compared (no data is read), so a diff is instant at any
size. The drift hint per column is the population stability index (PSI) and the
Jensen-Shannon distance over the stored histograms: value counts are aligned by value;
numeric bins, drawn over each version's own [min, max], are first spread onto one common
grid (assuming values are uniform within a bin). PSI below 0.1 reads as stable, up to
0.25 as a moderate shift, above as a major one.

Example:
    >>> change = diff(ws.datasets.get("transactions@v1"), ws.datasets.get("transactions@v2"))
    >>> change.rows.change, [c.name for c in change.columns if c.drift and c.drift.shifted]
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.data._drift import jensenshannon, psi
from modelyard.data._types import ColumnStats, DatasetVersion

__all__ = [
    "ColumnDiff",
    "DatasetDiff",
    "DriftHint",
    "DriftLevel",
    "StatChange",
    "diff",
    "drift_hint",
    "stat_change",
]

STATS = ("count", "nulls", "distinct", "min", "max", "mean")
_MODERATE, _MAJOR = 0.1, 0.25


class DriftLevel(enum.StrEnum):
    """How far a column's distribution moved, by the usual PSI thresholds."""

    STABLE = "stable"  # PSI < 0.1
    MODERATE = "moderate"  # 0.1 <= PSI < 0.25
    MAJOR = "major"  # PSI >= 0.25


@dataclass(frozen=True, slots=True)
class StatChange:
    """One statistic in both versions; ``change`` and ``relative`` (change / |a|) are
    None where the values are not numbers or ``a`` is zero."""

    a: Any
    b: Any
    change: float | None = None
    relative: float | None = None

    @property
    def changed(self) -> bool:
        return bool(self.a != self.b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "change": self.change,
            "relative": self.relative,
            "changed": self.changed,
        }


@dataclass(frozen=True, slots=True)
class DriftHint:
    """PSI and Jensen-Shannon distance between two histograms of one column."""

    psi: float
    js: float
    level: DriftLevel
    buckets: int  # how many aligned buckets were compared

    @property
    def shifted(self) -> bool:
        return self.level is not DriftLevel.STABLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "psi": self.psi,
            "js": self.js,
            "level": str(self.level),
            "buckets": self.buckets,
            "shifted": self.shifted,
        }


@dataclass(frozen=True, slots=True)
class ColumnDiff:
    """A column present in both versions."""

    name: str
    type_a: str
    type_b: str
    stats: dict[str, StatChange]
    drift: DriftHint | None

    @property
    def changed(self) -> bool:
        return self.type_a != self.type_b or any(s.changed for s in self.stats.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type_a": self.type_a,
            "type_b": self.type_b,
            "changed": self.changed,
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
            "drift": self.drift.to_dict() if self.drift else None,
        }


@dataclass(frozen=True, slots=True)
class DatasetDiff:
    """Everything that differs between versions ``a`` and ``b`` (see :func:`diff`)."""

    a: str  # refs, dataset@id-prefix
    b: str
    a_id: str
    b_id: str
    rows: StatChange
    size: StatChange
    added: tuple[tuple[str, str], ...]  # columns only ``b`` has: (name, type)
    removed: tuple[tuple[str, str], ...]  # columns only ``a`` has
    type_changes: tuple[tuple[str, str, str], ...]  # (name, type in a, type in b)
    columns: tuple[ColumnDiff, ...]
    shared_parts: int  # leading parts both versions share (an append shares its parent's)
    appended: bool  # ``b`` is ``a`` plus more parts

    @property
    def identical(self) -> bool:
        return self.a_id == self.b_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "a_id": self.a_id,
            "b_id": self.b_id,
            "identical": self.identical,
            "appended": self.appended,
            "shared_parts": self.shared_parts,
            "rows": self.rows.to_dict(),
            "size": self.size.to_dict(),
            "schema": {
                "added": [{"name": n, "type": t} for n, t in self.added],
                "removed": [{"name": n, "type": t} for n, t in self.removed],
                "type_changes": [{"name": n, "a": ta, "b": tb} for n, ta, tb in self.type_changes],
            },
            "columns": [c.to_dict() for c in self.columns],
        }


def diff(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
    """Compare version ``a`` (the baseline) with version ``b``.

    Args:
        a: the version compared from, usually the older one.
        b: the version compared to.

    Returns:
        Schema changes, row count change, per-column statistic changes and drift hints.
    """
    types_a, types_b = dict(a.schema), dict(b.schema)
    stats_a = {s.name: s for s in a.stats}
    stats_b = {s.name: s for s in b.stats}
    shared = 0
    for part_a, part_b in zip(a.parts, b.parts, strict=False):
        if part_a != part_b:
            break
        shared += 1
    columns = tuple(
        _column(name, types_a[name], types_b[name], stats_a.get(name), stats_b.get(name))
        for name, _ in b.schema
        if name in types_a
    )
    return DatasetDiff(
        a=a.ref,
        b=b.ref,
        a_id=a.id,
        b_id=b.id,
        rows=stat_change(a.rows, b.rows),
        size=stat_change(a.size, b.size),
        added=tuple((n, t) for n, t in b.schema if n not in types_a),
        removed=tuple((n, t) for n, t in a.schema if n not in types_b),
        type_changes=tuple(
            (n, types_a[n], t) for n, t in b.schema if n in types_a and types_a[n] != t
        ),
        columns=columns,
        shared_parts=shared,
        appended=shared == len(a.parts) and len(b.parts) > len(a.parts),
    )


def stat_change(a: Any, b: Any) -> StatChange:
    """``a`` and ``b`` with their difference, when both are numbers."""
    if not (_is_number(a) and _is_number(b)):
        return StatChange(a, b)
    change = float(b) - float(a)
    relative = change / abs(float(a)) if a else None
    return StatChange(a, b, change, relative)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _column(
    name: str, type_a: str, type_b: str, a: ColumnStats | None, b: ColumnStats | None
) -> ColumnDiff:
    stats = {}
    if a is not None and b is not None:
        stats = {key: stat_change(getattr(a, key), getattr(b, key)) for key in STATS}
    hint = drift_hint(a.histogram, b.histogram) if a and b and a.histogram and b.histogram else None
    return ColumnDiff(name, type_a, type_b, stats, hint)


def drift_hint(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> DriftHint | None:
    """PSI and Jensen-Shannon distance between two stored histograms (None when they
    cannot be aligned, e.g. value counts of text against numeric bins)."""
    aligned = _align(a, b)
    if aligned is None:
        return None
    counts_a, counts_b = aligned
    if counts_a.sum() <= 0 or counts_b.sum() <= 0:
        return None
    index = psi(counts_a, counts_b)
    js = jensenshannon(counts_a, counts_b)
    level = (
        DriftLevel.MAJOR
        if index >= _MAJOR
        else DriftLevel.MODERATE
        if index >= _MODERATE
        else DriftLevel.STABLE
    )
    return DriftHint(index, js, level, len(counts_a))


def _align(
    a: dict[str, list[Any]], b: dict[str, list[Any]]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """Counts of ``a`` and ``b`` over the same buckets."""
    if "values" in a and "values" in b:
        keys = list(dict.fromkeys([*a["values"], *b["values"]]))
        found = [dict(zip(h["values"], h["counts"], strict=True)) for h in (a, b)]
        at, bt = (np.array([f.get(k, 0) for k in keys], dtype=np.float64) for f in found)
        return at, bt
    points = [_span(h) for h in (a, b)]
    if None in points:
        return None
    lows, highs = zip(*(p for p in points if p is not None), strict=True)
    bins = max(len(a["counts"]), len(b["counts"]))
    grid = np.linspace(min(lows), max(highs), bins + 1)
    if grid[-1] <= grid[0]:
        grid = np.array([grid[0] - 0.5, grid[0] + 0.5])
    return _on_grid(a, grid), _on_grid(b, grid)


def _span(histogram: dict[str, list[Any]]) -> tuple[float, float] | None:
    """The numeric range a histogram covers; None for value counts that are not numbers."""
    if "edges" in histogram:
        return float(histogram["edges"][0]), float(histogram["edges"][-1])
    values = histogram["values"]
    if not values or not all(_is_number(v) for v in values):
        return None
    return float(min(values)), float(max(values))


def _on_grid(histogram: dict[str, list[Any]], grid: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    counts = np.asarray(histogram["counts"], dtype=np.float64)
    if "values" in histogram:
        values = np.asarray(histogram["values"], dtype=np.float64)
        clipped = np.clip(values, grid[0], grid[-1])
        return np.histogram(clipped, bins=grid, weights=counts)[0].astype(np.float64)
    # the piecewise-linear CDF through the bin edges, read at the grid's edges
    edges: Sequence[float] = histogram["edges"]
    cdf = np.concatenate([[0.0], np.cumsum(counts)])
    return np.diff(np.interp(grid, np.asarray(edges, dtype=np.float64), cdf))
