"""Value objects of deployments: a stored deployment and what servers report about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from modelyard.deployments._spec import DeploymentSpec
from modelyard.errors import ValidationError

__all__ = ["Deployment", "DeploymentStatus", "TargetState", "TargetStatus"]


class TargetState(enum.StrEnum):
    SERVING = "serving"
    LOADING = "loading"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A stored deployment; ``revision`` starts at 1 and grows by one with every update."""

    spec: DeploymentSpec
    revision: int
    created_at: int
    updated_at: int

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "spec": self.spec.to_dict(),
            "revision": self.revision,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target as a server sees it.

    ``version`` is the version the target resolves to now; ``serving_version`` the one that
    actually answers: the previous version while a new one loads, or after it failed to load
    (``state`` is then ``failed`` and ``error`` says why, e.g. a digest mismatch).
    """

    target: str
    version: int | None
    state: TargetState
    error: str | None = None
    serving_version: int | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "state", TargetState(self.state))
        except ValueError:
            valid = ", ".join(s.value for s in TargetState)
            raise ValidationError(
                f"invalid target state {self.state!r}: use one of {valid}",
                details={"state": str(self.state)},
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "version": self.version,
            "state": self.state.value,
            "error": self.error,
            "serving_version": self.serving_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetStatus:
        return cls(
            target=data["target"],
            version=data.get("version"),
            state=TargetState(data["state"]),
            error=data.get("error"),
            serving_version=data.get("serving_version"),
        )


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    """What one server reports about one deployment (``ready``: it answers requests for it)."""

    deployment: str
    server_id: str
    ready: bool
    targets: tuple[TargetStatus, ...]
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "server_id": self.server_id,
            "ready": self.ready,
            "targets": [t.to_dict() for t in self.targets],
            "updated_at": self.updated_at,
        }
