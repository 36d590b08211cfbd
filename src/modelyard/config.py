"""Typed, frozen settings for a workspace.

A workspace is a folder with a ``modelyard.toml`` and a state folder (``.modelyard/``).
Settings come, strongest first, from ``MODELYARD_*`` environment variables, then the
workspace's ``modelyard.toml``, then defaults that need no setup: a SQLite file and a
local artifact folder inside the state folder.

Example:
    >>> settings = load_settings(Path("my-workspace"))
    >>> settings.metadata_url
    'sqlite:////abs/my-workspace/.modelyard/metadata.db'
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelyard.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "DataSettings",
    "FeatureSettings",
    "JobSettings",
    "ServingSettings",
    "Settings",
    "find_workspace",
    "load_settings",
]

CONFIG_FILE = "modelyard.toml"


class ServingSettings(BaseModel):
    """The ``[serving]`` table: how ``modelyard serve`` runs (``MODELYARD_SERVING__PORT``...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    auth: bool = Field(default=False, description="Require API keys on every route but health.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    rate_limit_rps: float = Field(default=0.0, ge=0, description="Per API key; 0 = unlimited.")
    rate_limit_burst: int = Field(default=100, ge=1)
    cors_origins: tuple[str, ...] = Field(default=(), description="Empty: CORS off.")
    refresh_interval_s: float = Field(
        default=1.0, gt=0, description="How often deployments and aliases are re-read."
    )
    predictions_dir: str = Field(
        default="", description="Prediction log folder; empty means state_dir/predictions."
    )
    log_fsync: bool = Field(
        default=False, description="fsync the prediction WAL (survives power loss, not only kill)."
    )
    segment_rows: int = Field(default=100_000, ge=1, description="Rows per Parquet log segment.")
    segment_seconds: float = Field(
        default=60.0, gt=0, description="Max age of a WAL before it rolls."
    )
    cache_url: str = Field(
        default="", description="Prediction cache: empty = in-process LRU; redis://host:6379/0."
    )
    predict_threads: int = Field(default=2, ge=1, le=64, description="Threads running predicts.")
    ui: bool = Field(
        default=False, description="Mount the web dashboard at /ui (modelyard serve --ui)."
    )


class DataSettings(BaseModel):
    """The ``[data]`` table: pipelines, datasets and streams (``MODELYARD_DATA__MEMORY_LIMIT``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pipelines_dir: str = Field(
        default="pipelines", description="Folder of pipeline modules, relative to the workspace."
    )
    memory_limit: str = Field(
        default="1GB", description="DuckDB memory limit per run; beyond it, work spills to disk."
    )
    threads: int = Field(default=0, ge=0, le=256, description="DuckDB threads; 0 = all cores.")
    batch_rows: int = Field(
        default=122_880, ge=1, description="Rows per Arrow batch handed to Python transforms."
    )
    stream_url: str = Field(
        default="", description="Streams: empty = embedded (metadata database); redis://host."
    )
    retries: int = Field(default=3, ge=0, le=20, description="Retries of a transient failure.")
    retry_backoff_s: float = Field(default=1.0, ge=0, description="First retry pause; doubles.")


class FeatureSettings(BaseModel):
    """The ``[features]`` table: definitions and the online store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    definitions_dir: str = Field(
        default="features", description="Folder of feature definition modules."
    )
    online_url: str = Field(
        default="", description="Online store: empty = SQLite in the state folder; redis://."
    )
    online_prefix: str = Field(
        default="modelyard",
        min_length=1,
        description="Prefix of the online store's Redis keys: give each workspace that "
        "shares a Redis its own.",
    )


class JobSettings(BaseModel):
    """The ``[jobs]`` table: the durable job queue and its workers
    (``MODELYARD_JOBS__LEASE_S``...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lease_s: float = Field(
        default=30.0, gt=0, description="How long a claimed job is a worker's without a heartbeat."
    )
    heartbeat_s: float = Field(
        default=10.0, gt=0, description="How often a worker renews its leases (< lease_s)."
    )
    poll_s: float = Field(default=1.0, gt=0, description="Pause of an idle worker between polls.")
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="Attempts before a job is dead (per job override)."
    )
    backoff_s: float = Field(default=5.0, ge=0, description="First retry pause; doubles.")
    backoff_max_s: float = Field(default=600.0, ge=0, description="Longest retry pause.")
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="How long a stopping worker lets its jobs finish."
    )
    schedules: bool = Field(
        default=True, description="Workers enqueue the runs of scheduled pipelines."
    )
    schedule_check_s: float = Field(
        default=5.0, gt=0, description="How often a worker looks for schedule ticks."
    )
    alerts_every: str = Field(
        default="1m",
        description="Workers evaluate the alert rules at this interval or cron ('' = never).",
    )
    kind_modules: tuple[str, ...] = Field(
        default=(),
        description="More job kinds: module names, or .py files relative to the workspace.",
    )

    @pydantic.model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> JobSettings:
        if self.heartbeat_s >= self.lease_s:
            raise ValueError(f"heartbeat_s ({self.heartbeat_s}) must be below lease_s")
        return self


class Settings(BaseSettings):
    """Everything a workspace is configured by. Read once, then frozen."""

    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )
    _toml_file: ClassVar[Path | None] = None

    workspace: Path = Field(default=Path("."), description="The workspace folder.")
    state_dir: str = Field(default=".modelyard", description="State folder, relative to it.")
    metadata_url: str = Field(
        default="",
        description="SQLAlchemy URL of the metadata database; empty means SQLite in state_dir.",
    )
    artifacts_url: str = Field(
        default="",
        description="fsspec URL or path of the artifact store; empty means state_dir/artifacts.",
    )
    auto_migrate: bool = Field(
        default=True, description="Bring the metadata schema up to date when it is opened."
    )
    sqlite_busy_timeout_s: float = Field(default=60.0, gt=0)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    tracking_flush_rows: int = Field(
        default=10_000, ge=1, description="Buffered metric values that trigger a flush."
    )
    tracking_flush_seconds: float = Field(
        default=5.0, ge=0, description="Age of the oldest buffered metric that triggers a flush."
    )
    compute: str = Field(
        default="local",
        description="Where heavy work runs: local processes, ray-local (start a local Ray) "
        "or a Ray cluster's client address ray://host:10001.",
    )
    serving: ServingSettings = Field(default_factory=ServingSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @pydantic.field_validator("compute")
    @classmethod
    def _compute_backend(cls, value: str) -> str:
        if not re.match(r"^(local|ray-local|ray://[^\s/:]+(:\d{1,5})?)$", value):
            raise ValueError(f"use local, ray-local or ray://HOST:PORT, not {value!r}")
        return value

    def resolved_predictions_dir(self) -> Path:
        """Absolute folder of the prediction log."""
        folder = Path(self.serving.predictions_dir or self.state_path / "predictions")
        return folder if folder.is_absolute() else (self.workspace / folder).resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env support
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None and cls._toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    @property
    def state_path(self) -> Path:
        """Absolute path of the state folder."""
        return (self.workspace / self.state_dir).resolve()

    def resolved_metadata_url(self) -> str:
        """The metadata URL with defaults filled in and relative SQLite paths anchored."""
        if not self.metadata_url:
            return f"sqlite:///{self.state_path / 'metadata.db'}"
        try:
            url = make_url(self.metadata_url)
        except ArgumentError as exc:
            raise ConfigError(f"metadata_url {self.metadata_url!r} is not a database URL") from exc
        database = url.database
        if url.get_backend_name() == "sqlite" and database and database != ":memory:":
            path = Path(database)
            if not path.is_absolute():
                return url.set(database=str((self.workspace / path).resolve())).render_as_string(
                    hide_password=False
                )
        return self.metadata_url

    def resolved_artifacts_url(self) -> str:
        """The artifact store URL with defaults filled in and relative paths anchored."""
        if not self.artifacts_url:
            return str(self.state_path / "artifacts")
        if "://" in self.artifacts_url:
            return self.artifacts_url
        path = Path(self.artifacts_url).expanduser()
        return str(path if path.is_absolute() else (self.workspace / path).resolve())


def find_workspace(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` that holds a ``modelyard.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def load_settings(workspace: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings of ``workspace`` (default: ``MODELYARD_WORKSPACE``, else found upward
    from the current folder, else the current folder itself)."""
    if workspace is None:
        env = os.environ.get("MODELYARD_WORKSPACE")
        workspace = Path(env) if env else (find_workspace() or Path.cwd())
    workspace = workspace.expanduser().resolve()
    toml_file = workspace / CONFIG_FILE
    bound = type("WorkspaceSettings", (Settings,), {"_toml_file": toml_file})
    try:
        settings: Settings = bound(workspace=workspace, **overrides)
        return settings
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings for workspace {workspace} ({toml_file.name} or MODELYARD_*): "
            f"{problems}",
            details={"workspace": str(workspace), "errors": exc.errors(include_url=False)},
        ) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read {toml_file}: {exc}") from None
