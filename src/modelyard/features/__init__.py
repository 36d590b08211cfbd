"""The feature store: definitions used the same way for training and for serving.

Definitions are versioned in a registry (``ws.features.apply()``); training data comes
from the point-in-time join in DuckDB; serving data from the online store (SQLite, or
Redis), kept current by incremental materialization.
"""

from __future__ import annotations

from modelyard.features._materialize import MaterializeResult, materialize
from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._on_demand import OnDemandFeatureView, on_demand_feature_view
from modelyard.features._online import FieldStatus, OnlineRead, OnlineStore
from modelyard.features._online_redis import RedisOnlineStore
from modelyard.features._online_sqlite import SqliteOnlineStore
from modelyard.features._registry import Action, FeatureRegistry, Plan, PlanItem, RegisteredView
from modelyard.features._serving import OnlineFrame
from modelyard.features._skew import Mismatch, SkewReport
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
    "FieldStatus",
    "MaterializeResult",
    "Mismatch",
    "OnDemandFeatureView",
    "OnlineFrame",
    "OnlineRead",
    "OnlineStore",
    "Plan",
    "PlanItem",
    "RedisOnlineStore",
    "RegisteredView",
    "SkewReport",
    "SqliteOnlineStore",
    "ViewInput",
    "materialize",
    "on_demand_feature_view",
    "parse_refs",
    "point_in_time_sql",
]
