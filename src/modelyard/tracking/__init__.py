"""Experiment tracking: experiments, runs, params, metrics, artifacts, lineage and search."""

from __future__ import annotations

from modelyard.tracking._git import git_commit
from modelyard.tracking._run import ActiveRun
from modelyard.tracking._store import TrackingStore
from modelyard.tracking._types import (
    ArtifactInfo,
    Experiment,
    InputKind,
    Metric,
    Run,
    RunInput,
    RunPage,
    RunStatus,
)

__all__ = [
    "ActiveRun",
    "ArtifactInfo",
    "Experiment",
    "InputKind",
    "Metric",
    "Run",
    "RunInput",
    "RunPage",
    "RunStatus",
    "TrackingStore",
    "git_commit",
]
