"""The workspace settings an image or a cluster carries, without the secrets.

The store URLs (metadata, artifacts, cache, online store, streams) may hold passwords and
differ per environment, so they never enter an image or a ConfigMap: a container reads them
from ``MODELYARD_*`` variables filled from a Kubernetes Secret.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.config import CONFIG_FILE, Settings
from modelyard.errors import ConfigError

__all__ = [
    "CONTAINER_PORT",
    "CONTAINER_WORKSPACE",
    "STORE_SECRETS",
    "StoreSecret",
    "container_settings",
    "settings_env",
    "to_toml",
]

CONTAINER_WORKSPACE = "/srv/workspace"
CONTAINER_PORT = 8000


@dataclass(frozen=True, slots=True)
class StoreSecret:
    """A store URL read from a Secret: its settings path, variable and Secret key."""

    path: tuple[str, ...]
    env: str
    key: str
    required: bool = False


STORE_SECRETS: tuple[StoreSecret, ...] = (
    StoreSecret(("metadata_url",), "MODELYARD_METADATA_URL", "metadata_url", required=True),
    StoreSecret(("artifacts_url",), "MODELYARD_ARTIFACTS_URL", "artifacts_url", required=True),
    StoreSecret(("serving", "cache_url"), "MODELYARD_SERVING__CACHE_URL", "cache_url"),
    StoreSecret(("features", "online_url"), "MODELYARD_FEATURES__ONLINE_URL", "online_url"),
    StoreSecret(("data", "stream_url"), "MODELYARD_DATA__STREAM_URL", "stream_url"),
)
_DROPPED = {("workspace",)} | {secret.path for secret in STORE_SECRETS}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def container_settings(settings: Settings) -> dict[str, Any]:
    """The workspace's ``modelyard.toml`` without the store URLs, serving on all addresses
    of the container at :data:`CONTAINER_PORT`."""
    path = settings.workspace / CONFIG_FILE
    try:
        table = tomllib.loads(path.read_text()) if path.is_file() else {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    kept = _without(table, _DROPPED, ())
    serving = dict(kept.get("serving", {}))
    serving.update(host="0.0.0.0", port=CONTAINER_PORT)  # all addresses of the container
    kept["serving"] = serving
    return kept


def _without(
    table: Mapping[str, Any], dropped: set[tuple[str, ...]], prefix: tuple[str, ...]
) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in table.items():
        path = (*prefix, key)
        if path in dropped:
            continue
        kept[key] = _without(value, dropped, path) if isinstance(value, Mapping) else value
    return kept


def settings_env(table: Mapping[str, Any], prefix: str = "MODELYARD_") -> dict[str, str]:
    """Settings as the ``MODELYARD_*`` variables that set them (nested tables joined by
    ``__``; lists as JSON, as pydantic-settings reads them)."""
    env: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, Mapping):
            env.update(settings_env(value, f"{name}__"))
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            env[name] = json.dumps(list(value))
        else:
            env[name] = str(value)
    return dict(sorted(env.items()))


def to_toml(table: Mapping[str, Any]) -> str:
    """``table`` (scalars, lists and one level of sub-tables, as settings are) as TOML."""
    scalars = [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not isinstance(v, Mapping)]
    lines = [
        "# Written by `modelyard export`: store URLs come from MODELYARD_* variables.",
        *scalars,
    ]
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_key(key)}]", *(f"{_key(k)} = {_value(v)}" for k, v in value.items())]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # also a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write setting value {value!r} as TOML")
