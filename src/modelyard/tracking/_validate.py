"""Checks on names and values that tracking accepts."""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from typing import Any

from modelyard.errors import ValidationError

__all__ = ["check_key", "metric_value", "param_value"]

_KEY = re.compile(r"^[A-Za-z0-9_\-./: ]{1,250}$")
MAX_PARAM_LENGTH = 8000


def check_key(key: object, what: str) -> str:
    """``key`` if it is a valid param, metric or tag name."""
    if not isinstance(key, str) or not _KEY.match(key) or key.strip() != key:
        raise ValidationError(
            f"invalid {what} name {key!r}: use 1-250 letters, digits, spaces and _ - . / : "
            "with no leading or trailing space",
            details={"kind": what, "name": repr(key)},
        )
    return key


def param_value(key: str, value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_LENGTH:
        raise ValidationError(
            f"param {key!r} is {len(text)} characters long; the limit is {MAX_PARAM_LENGTH} "
            "(log long values as an artifact)"
        )
    return text


def metric_value(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}",
            details={"key": key},
        )
    return float(value)


def check_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {check_key(k, "param"): param_value(k, v) for k, v in params.items()}
