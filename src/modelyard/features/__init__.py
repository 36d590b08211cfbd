"""The feature store: definitions used the same way for training and for serving.

Definitions are versioned in a registry (``ws.features.apply()``); training data comes
from the point-in-time join in DuckDB; the online store and the feature server come next.
"""

from __future__ import annotations

from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._on_demand import OnDemandFeatureView, on_demand_feature_view
from modelyard.features._registry import Action, FeatureRegistry, Plan, PlanItem, RegisteredView
from modelyard.features._store import FeatureStore
from modelyard.features._types import Entity, FeatureService, FeatureView, Field, parse_refs

__all__ = [
    "Action",
    "Entity",
    "FeatureRegistry",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "OnDemandFeatureView",
    "Plan",
    "PlanItem",
    "RegisteredView",
    "ViewInput",
    "on_demand_feature_view",
    "parse_refs",
    "point_in_time_sql",
]
