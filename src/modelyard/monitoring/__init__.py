"""Monitoring: labels for logged predictions, performance, service health, drift of
production inputs and predictions from a reference profile, and alerts over all of them
(``ws.monitoring``).

Example:
    >>> from modelyard.monitoring import build_profile, detect_drift
    >>> profile = build_profile(training_table)     # once; store profile.to_bytes()
    >>> result = detect_drift(profile, last_week)   # never rescans the training data
    >>> result.drifted, result.drifted_columns
"""

from __future__ import annotations

from modelyard.monitoring._alerts import Alert, AlertRule, AlertStatus, AlertStore, Measurement
from modelyard.monitoring._drift import (
    DriftOptions,
    column_drift,
    default_method,
    detect_drift,
    prediction_drift,
)
from modelyard.monitoring._feedback import FeedbackImport, FeedbackStore, check_label
from modelyard.monitoring._log import PredictionLogReader
from modelyard.monitoring._methods import ColumnKind, DriftMethod
from modelyard.monitoring._monitor import PREDICTION, Monitoring
from modelyard.monitoring._performance import HealthWindow, Metric, PerformanceWindow
from modelyard.monitoring._profile import (
    ColumnProfile,
    ReferenceProfile,
    build_profile,
    profile_dataset,
)
from modelyard.monitoring._report import build_report
from modelyard.monitoring._results import ColumnDrift, DatasetDrift, Histogram

__all__ = [
    "PREDICTION",
    "Alert",
    "AlertRule",
    "AlertStatus",
    "AlertStore",
    "ColumnDrift",
    "ColumnKind",
    "ColumnProfile",
    "DatasetDrift",
    "DriftMethod",
    "DriftOptions",
    "FeedbackImport",
    "FeedbackStore",
    "HealthWindow",
    "Histogram",
    "Measurement",
    "Metric",
    "Monitoring",
    "PerformanceWindow",
    "PredictionLogReader",
    "ReferenceProfile",
    "build_profile",
    "build_report",
    "check_label",
    "column_drift",
    "default_method",
    "detect_drift",
    "prediction_drift",
    "profile_dataset",
]
