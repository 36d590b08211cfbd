"""Value objects of access control: scopes and API keys (never their secret)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelyard.errors import ValidationError

__all__ = ["KEY_PREFIX", "ApiKey", "Scope", "parse_scopes"]

KEY_PREFIX = "myd"


class Scope(enum.StrEnum):
    """What a key may do; ``admin`` implies ``predict``."""

    PREDICT = "predict"
    ADMIN = "admin"


def parse_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    """Scopes from their names; an unknown name is a ValidationError listing the valid ones."""
    found: set[Scope] = set()
    for scope in scopes:
        try:
            found.add(Scope(scope))
        except ValueError:
            valid = ", ".join(s.value for s in Scope)
            raise ValidationError(
                f"unknown scope {scope!r}: use {valid}", details={"scope": str(scope)}
            ) from None
    if not found:
        raise ValidationError(f"an API key needs at least one scope ({', '.join(Scope)})")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key. ``prefix`` (``myd_<id>``) identifies it in lists and logs; the
    secret part is never stored, only the sha256 of the whole key."""

    id: str
    name: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: int
    revoked_at: int | None = None
    last_used_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope | str) -> bool:
        """Whether the key carries ``scope`` (admin carries every scope)."""
        (wanted,) = parse_scopes([scope])
        return wanted in self.scopes or Scope.ADMIN in self.scopes

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": sorted(s.value for s in self.scopes),
            "active": self.active,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }
