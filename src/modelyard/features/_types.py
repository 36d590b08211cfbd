"""Feature definitions: entities, feature views over datasets, feature services.

A feature is defined once, here, and computed from the same definition for training
(offline, point-in-time correct) and for serving (online).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import ValidationError

__all__ = ["Entity", "FeatureService", "FeatureView", "Field", "check_name", "parse_refs"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_REF = re.compile(r"^(?P<view>[A-Za-z_]\w*)(?:@v(?P<version>\d+))?:(?P<feature>[A-Za-z_]\w*|\*)$")


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid name for a ``kind`` of definition."""
    if not _NAME.match(name):
        raise ValidationError(f"{kind} name {name!r} must be a Python identifier (max 63)")
    return name


@dataclass(frozen=True, slots=True)
class Field:
    """A typed column: a feature, or a join key (DuckDB type names: BIGINT, DOUBLE...)."""

    name: str
    dtype: str

    def __post_init__(self) -> None:
        check_name("field", self.name)


@dataclass(frozen=True, slots=True)
class Entity:
    """What features describe (a user, a merchant), identified by typed join keys."""

    name: str
    join_keys: tuple[Field, ...]
    description: str = ""

    def __post_init__(self) -> None:
        check_name("entity", self.name)
        if not self.join_keys:
            raise ValidationError(f"entity {self.name!r} needs at least one join key")

    @classmethod
    def of(cls, name: str, keys: Mapping[str, str], description: str = "") -> Entity:
        """``Entity.of("user", {"user_id": "BIGINT"})``."""
        return cls(name, tuple(Field(k, t) for k, t in keys.items()), description)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": {k.name: k.dtype for k in self.join_keys},
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        return cls.of(data["name"], data["join_keys"], data.get("description", ""))


@dataclass(frozen=True, slots=True)
class FeatureView:
    """Features of some entities, read from a dataset with an event timestamp.

    Args:
        ttl: how old a feature row may be at the entity's timestamp and still be used
            (inclusive); zero means no limit, as in Feast.
        created_timestamp_field: breaks ties between rows with the same event timestamp
            (the latest created wins).
    """

    name: str
    entities: tuple[Entity, ...]
    source: str  # a dataset name
    features: tuple[Field, ...]
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    ttl: dt.timedelta = dt.timedelta(0)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("feature view", self.name)
        if not self.entities:
            raise ValidationError(f"feature view {self.name!r} needs at least one entity")
        if not self.features:
            raise ValidationError(f"feature view {self.name!r} declares no features")
        if self.ttl < dt.timedelta(0):
            raise ValidationError(f"feature view {self.name!r}: ttl cannot be negative")
        names = [f.name for f in self.features]
        clash = set(names) & {*self.join_key_names, self.timestamp_field}
        if len(set(names)) != len(names) or clash:
            raise ValidationError(
                f"feature view {self.name!r}: feature names must be unique and differ from "
                f"its join keys and timestamp ({', '.join(sorted(clash)) or 'duplicates'})"
            )

    @property
    def join_keys(self) -> tuple[Field, ...]:
        return tuple(key for entity in self.entities for key in entity.join_keys)

    @property
    def join_key_names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.join_keys)

    def feature(self, name: str) -> Field:
        for f in self.features:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.features)
        raise ValidationError(
            f"feature view {self.name!r} has no feature {name!r} (features: {known})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": [e.to_dict() for e in self.entities],
            "source": self.source,
            "features": {f.name: f.dtype for f in self.features},
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "ttl_seconds": self.ttl.total_seconds(),
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureView:
        return cls(
            name=data["name"],
            entities=tuple(Entity.from_dict(e) for e in data["entities"]),
            source=data["source"],
            features=tuple(Field(n, t) for n, t in data["features"].items()),
            timestamp_field=data["timestamp_field"],
            created_timestamp_field=data.get("created_timestamp_field"),
            ttl=dt.timedelta(seconds=data.get("ttl_seconds", 0)),
            description=data.get("description", ""),
            tags=dict(data.get("tags", {})),
        )


@dataclass(frozen=True, slots=True)
class FeatureService:
    """A named set of features that a model or deployment uses: ``view:feature`` refs, or
    whole views."""

    name: str
    features: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        check_name("feature service", self.name)
        if not self.features:
            raise ValidationError(f"feature service {self.name!r} lists no features")
        parse_refs(self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "features": list(self.features), "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureService:
        return cls(data["name"], tuple(data["features"]), data.get("description", ""))


def parse_refs(refs: Sequence[str]) -> list[tuple[str, int | None, str]]:
    """``["user_stats:txn_count_1h", "user_stats@v1:amount", "user_stats:*"]`` as
    (view, version or None for the latest, feature or ``*`` for all) triples."""
    triples: list[tuple[str, int | None, str]] = []
    for ref in refs:
        match = _REF.match(ref)
        if not match:
            raise ValidationError(
                f"feature reference {ref!r} is not 'view:feature' (or 'view@v2:feature', 'view:*')"
            )
        version = match.group("version")
        triples.append((match.group("view"), int(version) if version else None, match["feature"]))
    return triples
