"""Value objects of the model registry."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from modelyard.registry._signature import Signature

__all__ = ["AliasAction", "AliasEvent", "ModelVersion", "RegisteredModel"]


class AliasAction(enum.StrEnum):
    SET = "set"
    DELETE = "delete"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable version of a registered model."""

    name: str
    version: int
    flavor: str
    digest: str
    run_id: str | None
    signature: Signature | None
    input_example: dict[str, Any] | None
    flavor_info: dict[str, Any]
    description: str | None
    created_at: int
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "flavor": self.flavor,
            "digest": self.digest,
            "run_id": self.run_id,
            "signature": self.signature.to_dict() if self.signature else None,
            "input_example": self.input_example,
            "flavor_info": self.flavor_info,
            "description": self.description,
            "created_at": self.created_at,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str | None
    latest_version: int
    created_at: int
    updated_at: int
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "latest_version": self.latest_version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "aliases": dict(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias, kept forever: the audit trail that rollback walks."""

    id: int
    name: str
    alias: str
    action: AliasAction
    version: int | None
    previous_version: int | None
    at: int
    actor: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "alias": self.alias,
            "action": str(self.action),
            "version": self.version,
            "previous_version": self.previous_version,
            "at": self.at,
            "actor": self.actor,
            "reason": self.reason,
        }
