"""Value objects of experiment tracking."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ArtifactInfo",
    "Experiment",
    "InputKind",
    "Metric",
    "Run",
    "RunInput",
    "RunPage",
    "RunStatus",
]


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class InputKind(enum.StrEnum):
    """What a run consumed; later layers add their objects here."""

    DATASET_VERSION = "dataset_version"
    FEATURE_VIEW = "feature_view"
    FEATURE_SERVICE = "feature_service"
    MODEL_VERSION = "model_version"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    created_at: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric value; ``value`` is NaN when a NaN was logged."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    path: str
    digest: str
    size: int
    is_dir: bool


@dataclass(frozen=True, slots=True)
class RunInput:
    kind: str
    ref: str
    role: str
    digest: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored: its attributes, params, latest metrics, tags, artifacts and inputs."""

    id: str
    experiment_id: str
    experiment: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    git_commit: str | None
    source: str | None
    user: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: tuple[ArtifactInfo, ...] = ()
    inputs: tuple[RunInput, ...] = ()

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN metric values become None)."""
        data = asdict(self)
        data["status"] = str(self.status)
        data["metrics"] = {
            key: {**asdict(m), "value": None if m.value != m.value else m.value}
            for key, m in self.metrics.items()
        }
        return data


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of a run search; pass ``next_page_token`` back for the next page."""

    runs: list[Run]
    next_page_token: str | None
