"""The drift methods, what each compares and when it declares drift.

The names, default thresholds and decision rules are Evidently's (``evidently.legacy.
calculations.stattests``): the three tests give a p-value and declare drift below the
threshold (``ks`` at or below it), the four distances give a score and declare drift at or
above it.
"""

from __future__ import annotations

from enum import StrEnum

from modelyard.errors import ValidationError

__all__ = ["ColumnKind", "DriftMethod", "parse_method"]


class ColumnKind(StrEnum):
    """How a column's values are compared: as numbers or as categories."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class DriftMethod(StrEnum):
    """A way to compare a reference distribution with a current one."""

    KS = "ks"
    """Two-sample Kolmogorov-Smirnov test (numbers); drift when p <= threshold."""
    CHISQUARE = "chisquare"
    """Chi-square test over counts per value; drift when p < threshold."""
    Z = "z"
    """Two-proportion Z-test (the first value against the rest); drift when p < threshold."""
    WASSERSTEIN = "wasserstein"
    """Wasserstein-1 distance divided by the reference standard deviation (numbers)."""
    JENSENSHANNON = "jensenshannon"
    """Jensen-Shannon distance (natural log) between the shares per bucket."""
    PSI = "psi"
    """Population stability index between the shares per bucket."""
    KL_DIV = "kl_div"
    """Kullback-Leibler divergence of the reference shares from the current ones."""

    @property
    def is_test(self) -> bool:
        """Whether the method is a statistical test (its score is a p-value)."""
        return self in (DriftMethod.KS, DriftMethod.CHISQUARE, DriftMethod.Z)

    @property
    def default_threshold(self) -> float:
        """Evidently's default: 0.05 for the tests, 0.1 for the distances."""
        return 0.05 if self.is_test else 0.1

    @property
    def numeric_only(self) -> bool:
        return self in (DriftMethod.KS, DriftMethod.WASSERSTEIN)

    @property
    def per_value(self) -> bool:
        """Whether the method needs counts per value (not a distribution of numbers)."""
        return self in (DriftMethod.CHISQUARE, DriftMethod.Z)

    def drifted(self, score: float, threshold: float) -> bool:
        """The decision for ``score`` (a p-value for tests, else a distance)."""
        if self is DriftMethod.KS:
            return score <= threshold
        if self.is_test:
            return score < threshold
        return score >= threshold


def parse_method(value: DriftMethod | str, column: str | None = None) -> DriftMethod:
    """``value`` as a :class:`DriftMethod`; a ValidationError listing the methods if unknown."""
    try:
        return DriftMethod(value)
    except ValueError:
        where = f" for column {column!r}" if column is not None else ""
        known = ", ".join(m.value for m in DriftMethod)
        raise ValidationError(
            f"unknown drift method {value!r}{where}; use one of {known}",
            details={"method": str(value), "methods": [m.value for m in DriftMethod]},
        ) from None
