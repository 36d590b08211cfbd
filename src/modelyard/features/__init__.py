"""The feature store: definitions used the same way for training and for serving.

This release has the definitions and the point-in-time join (offline retrieval in
DuckDB); the registry (``modelyard apply``), the online store and the feature server
come next.
"""

from __future__ import annotations

from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._types import Entity, FeatureService, FeatureView, Field, parse_refs

__all__ = [
    "Entity",
    "FeatureService",
    "FeatureView",
    "Field",
    "ViewInput",
    "parse_refs",
    "point_in_time_sql",
]
