"""Model URIs: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` and ``models:/NAME/latest``.

The ``models:/`` prefix may be left out where a model reference is expected (the CLI takes
``fraud@champion`` or ``fraud/3``). A bare ``NAME`` means its latest version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import ReservedAliasError, ValidationError

__all__ = ["ModelRef", "check_alias", "check_model_name", "parse_model_uri"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VERSION_ALIAS = re.compile(r"^[vV](\d+)$")
LATEST = "latest"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model reference: exactly one of ``version`` and ``alias`` is set, or neither
    for the latest version."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def uri(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{self.version if self.version is not None else LATEST}"


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"invalid model name {name!r}: use up to 255 letters, digits, _ . - "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    """``alias`` if users may set it: ``[A-Za-z0-9_-]``, not ``latest`` nor ``v<N>``."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ReservedAliasError(str(alias), "use 1-64 letters, digits, _ or -")
    if alias.lower() == LATEST or _VERSION_ALIAS.match(alias):
        raise ReservedAliasError(alias, "'latest' and 'v<N>' are reserved to name versions")
    return alias


def parse_model_uri(uri: str) -> ModelRef:
    """Parse ``models:/NAME@ALIAS``, ``models:/NAME/N``, ``models:/NAME/latest`` (or the same
    without the prefix). ``@latest`` and ``@vN`` resolve like ``/latest`` and ``/N``."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValidationError("a model URI is required, e.g. models:/fraud@champion")
    body = uri.strip()
    if body.startswith("models:"):
        body = body[len("models:") :].lstrip("/")
    elif "://" in body:
        raise ValidationError(
            f"{uri!r} is not a model URI; use models:/NAME@ALIAS or models:/NAME/N"
        )
    if "@" in body:
        name, _, alias = body.partition("@")
        check_model_name(name)
        if alias.lower() == LATEST:
            return ModelRef(name)
        if match := _VERSION_ALIAS.match(alias):
            return ModelRef(name, version=int(match.group(1)))
        if not _ALIAS.match(alias):
            raise ValidationError(f"invalid alias {alias!r} in model URI {uri!r}")
        return ModelRef(name, alias=alias)
    name, _, version = body.partition("/")
    check_model_name(name)
    if not version or version.lower() == LATEST:
        return ModelRef(name)
    if not version.isdigit() or int(version) < 1:
        raise ValidationError(
            f"invalid version {version!r} in model URI {uri!r}: versions are numbers from 1"
        )
    return ModelRef(name, version=int(version))
