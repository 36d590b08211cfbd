"""Monitoring: drift of production inputs and predictions from a reference profile.

Example:
    >>> from modelyard.monitoring import build_profile, detect_drift
    >>> profile = build_profile(training_table)     # once; store profile.to_bytes()
    >>> result = detect_drift(profile, last_week)   # never rescans the training data
    >>> result.drifted, result.drifted_columns
"""

from __future__ import annotations

from modelyard.monitoring._drift import (
    DriftOptions,
    column_drift,
    default_method,
    detect_drift,
    prediction_drift,
)
from modelyard.monitoring._methods import ColumnKind, DriftMethod
from modelyard.monitoring._profile import (
    ColumnProfile,
    ReferenceProfile,
    build_profile,
    profile_dataset,
)
from modelyard.monitoring._results import ColumnDrift, DatasetDrift, Histogram

__all__ = [
    "ColumnDrift",
    "ColumnKind",
    "ColumnProfile",
    "DatasetDrift",
    "DriftMethod",
    "DriftOptions",
    "Histogram",
    "ReferenceProfile",
    "build_profile",
    "column_drift",
    "default_method",
    "detect_drift",
    "prediction_drift",
    "profile_dataset",
]
