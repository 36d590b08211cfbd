"""The base of the deployment spec models: frozen, strict about unknown fields, and raising
:class:`~modelyard.errors.ValidationError` (naming the field) instead of pydantic's error."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict

from modelyard.errors import ValidationError

__all__ = ["Frozen", "check_target", "target_key", "target_version", "validation_error"]

_VERSION = re.compile(r"^[vV]?(\d+)$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Frozen(BaseModel):
    """A frozen pydantic model whose constructor raises modelyard's ValidationError."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    what: ClassVar[str] = "value"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise validation_error(exc, self.what) from None


def validation_error(exc: pydantic.ValidationError, what: str) -> ValidationError:
    """One :class:`ValidationError` listing every field pydantic rejected, as
    ``field.path: reason`` (``details["errors"]`` has them as ``{field, message}``)."""
    problems: list[dict[str, str]] = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"])
        cause = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
        if isinstance(cause, ValidationError) and cause.details.get("errors"):
            # a nested model (or parse_traffic) already named its own fields: keep the path
            for inner in cause.details["errors"]:
                path = ".".join(p for p in (field, inner["field"]) if p)
                problems.append({"field": path, "message": inner["message"]})
            continue
        problems.append({"field": field, "message": str(cause) if cause else err["msg"]})
    text = "; ".join(
        f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems
    )
    return ValidationError(f"invalid {what}: {text}", details={"errors": problems})


def check_target(target: str) -> str:
    """``target`` if it names a version (``3``, ``v3``), ``latest`` or an alias."""
    if not isinstance(target, str):
        raise ValueError(f"a target is a string, not {type(target).__name__}")
    match = _VERSION.match(target)
    if match is not None:
        if int(match.group(1)) < 1:
            raise ValueError(f"target {target!r}: versions are numbers from 1")
        return target
    if not _ALIAS.match(target):
        raise ValueError(
            f"target {target!r} is neither a version (3, v3) nor an alias "
            "(1-64 letters, digits, _ or -)"
        )
    return target


def target_version(target: str) -> int | None:
    """The version number a target names (``3``, ``v3``), or None for an alias."""
    match = _VERSION.match(target)
    return int(match.group(1)) if match else None


def target_key(target: str) -> str:
    """The canonical form of a target, so that ``3``, ``v3`` and ``V3`` count as one."""
    version = target_version(target)
    return f"v{version}" if version is not None else target
