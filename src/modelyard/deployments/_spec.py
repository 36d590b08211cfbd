"""What a deployment is: a named endpoint with a traffic policy over versions of one model.

Specs are frozen pydantic models; bad input raises :class:`~modelyard.errors.ValidationError`
naming the field. Traffic weights are relative (the router normalises them), so
``champion=9,challenger=1`` and ``champion=0.9,challenger=0.1`` split traffic alike. A target
is an alias (``champion``), a version (``3`` or ``v3``) or ``latest``; here it is only checked
for its shape, the store checks that it resolves.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from modelyard.deployments._base import Frozen, check_target, target_key, target_version
from modelyard.errors import ValidationError

__all__ = [
    "BatchingOptions",
    "CacheOptions",
    "DeploymentSpec",
    "StickyKey",
    "TrafficRoute",
    "parse_traffic",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_SERVICE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,255}$")

Target = Annotated[str, AfterValidator(check_target)]


class TrafficRoute(Frozen):
    """A share of the traffic for one target; ``weight`` is relative to the other routes."""

    what = "traffic route"
    target: Target
    weight: float = Field(gt=0, strict=True)


class StickyKey(Frozen):
    """Where the key of sticky assignment is read: the same value always gets the same target.

    Example:
        >>> StickyKey.parse("header:X-User-Id")
        StickyKey(source='header', name='x-user-id')
    """

    what = "sticky key"
    source: Literal["header", "field"]
    name: str = Field(min_length=1, max_length=255)

    @field_validator("name")
    @classmethod
    def _header_name(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("source") != "header":
            return value
        if not _HEADER.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value.lower()  # header names are case-insensitive

    @classmethod
    def parse(cls, text: str) -> StickyKey:
        """``header:NAME`` or ``field:NAME``."""
        source, sep, name = text.partition(":")
        if not sep:
            reason = f"use header:NAME or field:NAME, not {text!r}"
            raise ValidationError(
                f"invalid sticky key: {reason}",
                details={"errors": [{"field": "", "message": reason}]},
            )
        fields: dict[str, Any] = {"source": source.strip(), "name": name.strip()}
        return cls(**fields)  # the source is checked by validation, not by the type checker

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


class BatchingOptions(Frozen):
    """How the adaptive batcher groups rows: a batch closes at ``max_batch_size`` rows or
    after ``max_wait_ms``; past ``max_queue_rows`` waiting rows requests get 503 + Retry-After.

    The default wait is 0: a batch is dispatched as soon as the model is free, and requests
    that arrive while it predicts form the next batch. Under concurrency that batches as
    well as a fixed wait without adding the wait to every request's latency (measured in
    benchmarks/serving.py: about 5.0k req/s with a 2 ms wait, 6.0k with none).
    """

    what = "batching options"
    max_batch_size: int = Field(default=64, ge=1, le=65536, strict=True)
    max_wait_ms: float = Field(default=0.0, ge=0, le=1000, strict=True)
    max_queue_rows: int = Field(default=4096, ge=1, strict=True)

    @model_validator(mode="after")
    def _queue_holds_a_batch(self) -> Self:
        if self.max_queue_rows < self.max_batch_size:
            raise ValueError(
                f"max_queue_rows ({self.max_queue_rows}) must be at least "
                f"max_batch_size ({self.max_batch_size})"
            )
        return self


class CacheOptions(Frozen):
    """The prediction cache: off by default; ``max_entries`` bounds the in-process LRU."""

    what = "cache options"
    enabled: bool = Field(default=False, strict=True)
    ttl_s: float = Field(default=300.0, gt=0, strict=True)
    max_entries: int = Field(default=100_000, ge=1, strict=True)


class DeploymentSpec(Frozen):
    """Everything a deployment is configured by.

    With ``feature_service``, requests carry entity keys (and request fields) and the
    server reads the service's features from the online store for the model.

    ``traffic`` and ``sticky`` also take their text forms, as the CLI and TOML files write
    them: ``"champion=0.9,challenger=0.1"`` and ``"header:x-user-id"``.

    Example:
        >>> spec = DeploymentSpec(name="fraud", model="fraud", traffic="champion=9,challenger=1")
        >>> [r.target for r in spec.traffic]
        ['champion', 'challenger']
    """

    what = "deployment spec"
    name: str
    model: str
    traffic: tuple[TrafficRoute, ...] = (TrafficRoute(target="champion", weight=1.0),)
    shadow: tuple[Target, ...] = ()
    sticky: StickyKey | None = None
    batching: BatchingOptions = BatchingOptions()
    cache: CacheOptions = CacheOptions()
    feature_service: str | None = None
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a deployment name: use 1-64 letters, digits, _ . - "
                "starting with a letter or digit"
            )
        return value

    @field_validator("feature_service")
    @classmethod
    def _check_service(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE.match(value):
            raise ValueError(f"{value!r} is not a feature service name (a Python identifier)")
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if not _MODEL.match(value):
            raise ValueError(f"{value!r} is not a model name")
        return value

    @field_validator("traffic", mode="before")
    @classmethod
    def _traffic_text(cls, value: Any) -> Any:
        return _split_traffic(value) if isinstance(value, str) else value

    @field_validator("traffic")
    @classmethod
    def _distinct_routes(cls, value: tuple[TrafficRoute, ...]) -> tuple[TrafficRoute, ...]:
        if not value:
            raise ValueError("give at least one route, e.g. champion=1")
        _check_distinct([r.target for r in value], "traffic")
        return value

    @field_validator("shadow", mode="before")
    @classmethod
    def _shadow_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("shadow")
    @classmethod
    def _shadow_apart(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        _check_distinct(list(value), "shadow")
        routed = {target_key(r.target) for r in info.data.get("traffic", ())}
        both = [t for t in value if target_key(t) in routed]
        if both:
            raise ValueError(f"{', '.join(both)} already in traffic; a shadow gets no traffic")
        return value

    @field_validator("sticky", mode="before")
    @classmethod
    def _sticky_text(cls, value: Any) -> Any:
        return StickyKey.parse(value) if isinstance(value, str) else value

    @property
    def targets(self) -> tuple[str, ...]:
        """Every target the deployment serves: the traffic routes, then the shadows."""
        return (*(r.target for r in self.traffic), *self.shadow)

    def target_uri(self, target: str) -> str:
        """The registry URI of one target: ``models:/fraud/3`` or ``models:/fraud@champion``."""
        version = target_version(check_target(target))
        if version is not None:
            return f"models:/{self.model}/{version}"
        return f"models:/{self.model}@{target}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stored and as ``--json`` prints it."""
        return self.model_dump(mode="json")


def parse_traffic(text: str) -> tuple[TrafficRoute, ...]:
    """Routes from ``"champion=0.9,challenger=0.1"``; a target without ``=W`` weighs 1.

    Example:
        >>> parse_traffic("champion=0.9, v4=0.1")[1]
        TrafficRoute(target='v4', weight=0.1)
    """
    return tuple(TrafficRoute(**route) for route in _split_traffic(text))


def _split_traffic(text: str) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for part in text.split(","):
        target, sep, weight = (p.strip() for p in part.partition("="))
        if not target and not sep:
            continue
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            raise _traffic_error(text, f"weight {weight!r} of {target!r} is not a number") from None
        routes.append({"target": target, "weight": value})
    if not routes:
        raise _traffic_error(text, "give TARGET=WEIGHT pairs, e.g. champion=0.9,challenger=0.1")
    return routes


def _traffic_error(text: str, reason: str) -> ValidationError:
    return ValidationError(
        f"invalid traffic {text!r}: {reason}",
        details={"errors": [{"field": "", "message": f"{reason} (in {text!r})"}]},
    )


def _check_distinct(targets: list[str], field: str) -> None:
    seen: set[str] = set()
    for target in targets:
        key = target_key(target)
        if key in seen:
            raise ValueError(f"target {target!r} appears more than once in {field}")
        seen.add(key)
