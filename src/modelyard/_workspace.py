"""A workspace: settings plus the stores they point at, opened together.

This is the composition root. Domain packages receive the stores they need; nothing below
this module knows where settings come from.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard._ids import current_user, run_name
from modelyard.config import CONFIG_FILE, Settings, load_settings
from modelyard.errors import ConfigError
from modelyard.store import ArtifactStore, Database, ensure_schema
from modelyard.tracking import ActiveRun, TrackingStore, git_commit

if TYPE_CHECKING:
    from modelyard.access import KeyStore
    from modelyard.compute import Compute
    from modelyard.data import DatasetStore, LineageGraph, PipelineRunner
    from modelyard.deployments import DeploymentStore
    from modelyard.features import FeatureStore
    from modelyard.jobs import JobQueue
    from modelyard.monitoring import Monitoring
    from modelyard.registry import Registry

__all__ = ["Workspace", "current_workspace", "init_workspace", "set_workspace"]

_TEMPLATE = """\
# modelyard workspace. Every setting can be overridden by a MODELYARD_<NAME> variable.

# Metadata database (system of record). Default: SQLite in the state folder.
# metadata_url = "postgresql+psycopg://user@host:5432/modelyard"

# Artifact store: a folder or any fsspec URL. Default: the state folder's artifacts/.
# artifacts_url = "s3://bucket/modelyard"

# Where heavy jobs (training, tuning, batch scoring) run: local, ray-local (a Ray started
# here) or a Ray cluster, ray://host:10001 (which needs the stores above to be shared).
# compute = "local"

# Metric values buffered by a run before they are written.
# tracking_flush_rows = 10000
"""

_GITIGNORE = "*\n"


class Workspace:
    """Settings and the stores of one workspace.

    Example:
        >>> with Workspace.open("my-workspace") as ws:
        ...     ws.registry.load("models:/fraud@champion").predict(frame)
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(
            settings.resolved_metadata_url(),
            busy_timeout_s=settings.sqlite_busy_timeout_s,
            connect_timeout_s=settings.db_connect_timeout_s,
        )
        self.artifacts = ArtifactStore(settings.resolved_artifacts_url())
        self.tracking = TrackingStore(self.db, self.artifacts)

    @cached_property
    def registry(self) -> Registry:
        """The model registry (imported on first use: it brings pandas and the flavors)."""
        from modelyard.registry import Registry

        return Registry(self.db, self.artifacts, self.tracking)

    @cached_property
    def deployments(self) -> DeploymentStore:
        """Deployments: traffic policies over model versions, read by the prediction server."""
        from modelyard.deployments import DeploymentStore

        return DeploymentStore(  # the registries are imported when first needed
            self.db,
            lambda: self.registry,
            feature_service=lambda name: self.features.registry.service(name),
        )

    @cached_property
    def datasets(self) -> DatasetStore:
        """Versioned datasets (Parquet parts in the artifact store)."""
        from modelyard.data import DatasetStore

        return DatasetStore(
            self.db, self.artifacts, self.settings.data, self.settings.state_path / "data"
        )

    @cached_property
    def pipelines(self) -> PipelineRunner:
        """Runs the pipelines defined in the workspace's pipelines folder."""
        from modelyard.data import PipelineRunner

        return PipelineRunner(self.db, self.datasets, self.settings.data, self.path)

    @cached_property
    def features(self) -> FeatureStore:
        """Feature definitions (``features/*.py``), training data and serving data."""
        from modelyard.features import FeatureStore

        return FeatureStore(
            self.db,
            self.datasets,
            self.settings.features,
            self.settings.data,
            self.path,
            self.settings.state_path,
        )

    @cached_property
    def monitoring(self) -> Monitoring:
        """Labels, performance, health, drift and alerts of the deployments."""
        from modelyard.monitoring import Monitoring

        return Monitoring(self)

    def lineage(self, ref: str) -> LineageGraph:
        """Everything upstream of ``ref`` (a model URI, dataset version, run id): training
        runs, dataset versions, pipeline runs, source files with their sha256 and code."""
        from modelyard.data import lineage

        return lineage(
            ref,
            datasets=self.datasets,
            runner=self.pipelines,
            tracking=self.tracking,
            registry=self.registry,
        )

    @cached_property
    def jobs(self) -> JobQueue:
        """The durable job queue (built-in kinds plus ``[jobs] kind_modules``)."""
        from modelyard.jobs import JobKinds, JobQueue

        kinds = JobKinds.load(self.settings.jobs.kind_modules, self.path)
        return JobQueue(self.db, self.settings.jobs, kinds)

    @cached_property
    def compute(self) -> Compute:
        """Where heavy work runs, as the ``compute`` setting says (started on first use;
        a Ray this workspace started is shut down by :meth:`close`)."""
        from modelyard.compute import open_compute

        settings = self.settings
        if not settings.compute.startswith("ray://"):
            return open_compute(settings.compute)
        # A remote cluster's tasks get the workspace folder (its recipes, features, job
        # kinds) as their working directory, without the state folder.
        folder = {"working_dir": str(settings.workspace), "excludes": [f"/{settings.state_dir}/"]}
        return open_compute(settings.compute, runtime_env=folder)

    @cached_property
    def keys(self) -> KeyStore:
        """API keys with scopes, checked by the prediction server when auth is on."""
        from modelyard.access import KeyStore

        return KeyStore(self.db)

    @classmethod
    def open(cls, path: str | Path | None = None, **overrides: Any) -> Workspace:
        """Read the settings of ``path`` (see :func:`modelyard.config.load_settings`), check
        the metadata database is reachable and its schema current."""
        workspace = cls(load_settings(Path(path) if path is not None else None, **overrides))
        workspace.start()
        return workspace

    @property
    def path(self) -> Path:
        return self.settings.workspace

    def start(self) -> None:
        """Connect and migrate; raises StoreUnavailableError or ConfigError."""
        self.db.check()
        ensure_schema(self.db, auto_migrate=self.settings.auto_migrate)

    def close(self) -> None:
        if "features" in self.__dict__:
            self.features.close()
        if "compute" in self.__dict__:
            self.compute.close()
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start_run(
        self,
        experiment: str = "default",
        *,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        parent: ActiveRun | str | None = None,
    ) -> ActiveRun:
        """Start a run in ``experiment`` (see :func:`modelyard.start_run`)."""
        name = name or run_name()
        run_id = self.tracking.create_run(
            experiment,
            name=name,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            parent_run_id=parent.id if isinstance(parent, ActiveRun) else parent,
            git_commit=git_commit(),
            source=_source(),
            user=current_user(),
        )
        run = ActiveRun(
            self.tracking,
            run_id,
            name=name,
            experiment=experiment,
            flush_rows=self.settings.tracking_flush_rows,
            flush_seconds=self.settings.tracking_flush_seconds,
        )
        if params:
            try:
                run.log_params(params)
            except BaseException:
                run.end()
                raise
        return run


def init_workspace(path: str | Path) -> tuple[Workspace, bool]:
    """Create a workspace in ``path`` (made if missing); returns it and whether it is new.

    An existing ``modelyard.toml`` is left as it is.
    """
    folder = Path(path).expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create workspace folder {folder}: {exc}") from None
    config = folder / CONFIG_FILE
    created = not config.exists()
    if created:
        config.write_text(_TEMPLATE)
    workspace = Workspace.open(folder)
    state = workspace.settings.state_path
    state.mkdir(parents=True, exist_ok=True)
    if not (state / ".gitignore").exists():
        (state / ".gitignore").write_text(_GITIGNORE)
    return workspace, created


_current: Workspace | None = None
_current_lock = threading.Lock()


def current_workspace() -> Workspace:
    """The workspace module-level functions use: set by :func:`set_workspace`, else found
    from ``MODELYARD_WORKSPACE`` or upward from the current folder, else the current folder."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Workspace.open()
        return _current


def set_workspace(path: str | Path | None) -> Workspace | None:
    """Make ``path`` the current workspace (None forgets it, to be found again)."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.close()
        _current = Workspace.open(path) if path is not None else None
        return _current


def _source() -> str | None:
    return os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else None
