"""Deployments: named endpoints with a traffic policy over versions of one registered model,
stored in the metadata database and read by the prediction server."""

from __future__ import annotations

from modelyard.deployments._spec import (
    BatchingOptions,
    CacheOptions,
    DeploymentSpec,
    StickyKey,
    TrafficRoute,
    parse_traffic,
)
from modelyard.deployments._store import Action, DeploymentStore
from modelyard.deployments._types import Deployment, DeploymentStatus, TargetState, TargetStatus

__all__ = [
    "Action",
    "BatchingOptions",
    "CacheOptions",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStore",
    "StickyKey",
    "TargetState",
    "TargetStatus",
    "TrafficRoute",
    "parse_traffic",
]
