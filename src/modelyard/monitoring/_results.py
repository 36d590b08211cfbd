"""What a drift check answers: per column and for the dataset, as small frozen values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modelyard.errors import ValidationError
from modelyard.monitoring._methods import ColumnKind, DriftMethod

__all__ = ["ColumnDrift", "DatasetDrift", "Histogram"]


def _number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Histogram:
    """The reference and current shares over the same buckets, for charts.

    Numbers have ``edges`` (one more than the buckets; the last bucket includes its right
    edge); categories and few-valued numbers have ``labels``. Shares sum to 1 per side
    (the reference's may differ from the exact ones by the sketch's resolution).
    """

    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": None if self.edges is None else list(self.edges),
            "labels": None if self.labels is None else list(self.labels),
            "reference": list(self.reference),
            "current": list(self.current),
        }


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's verdict.

    ``score`` is what is compared with ``threshold``: the p-value for the tests (``ks``,
    ``chisquare``, ``z``), the distance otherwise; ``statistic`` is the test's own
    statistic (KS D, chi-square, z), None for distances.
    """

    column: str
    kind: ColumnKind
    method: DriftMethod
    score: float
    threshold: float
    drifted: bool
    statistic: float | None
    p_value: float | None
    reference_count: int
    current_count: int
    histogram: Histogram

    @property
    def distance(self) -> float | None:
        """The distance, for the distance methods; None for tests."""
        return None if self.method.is_test else self.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind.value,
            "method": self.method.value,
            "score": _number(self.score),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "statistic": _number(self.statistic),
            "p_value": _number(self.p_value),
            "distance": _number(self.distance),
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "histogram": self.histogram.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DatasetDrift:
    """Every compared column's verdict and the dataset's: drift when the share of drifted
    columns is at least ``drift_share`` (Evidently's rule)."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    evidently_compat: bool
    reference_rows: int
    current_rows: int
    source: str | None = None

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)

    @property
    def share(self) -> float:
        """The share of compared columns that drifted (0 when none were compared)."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.columns) and self.share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        """The verdict for column ``name``."""
        for result in self.columns:
            if result.column == name:
                return result
        known = ", ".join(c.column for c in self.columns) or "none"
        raise ValidationError(f"column {name!r} was not compared; compared columns: {known}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "share": self.share,
            "drift_share": self.drift_share,
            "drifted_columns": list(self.drifted_columns),
            "evidently_compat": self.evidently_compat,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "source": self.source,
            "columns": {c.column: c.to_dict() for c in self.columns},
        }
