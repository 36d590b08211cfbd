"""Deployments in the metadata database: the only place deployments write SQL.

A prediction server polls :meth:`DeploymentStore.revisions` (one small query) and reloads
the deployments whose revision changed; it reports what it actually serves with
:meth:`DeploymentStore.report_status`, which ``modelyard deployments show`` reads back. Every
target is resolved against the registry before anything is written, so a stored deployment
never names an alias or version that did not exist when it was written.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from modelyard._ids import now_ms
from modelyard.deployments._file import read_deployments_file
from modelyard.deployments._spec import DeploymentSpec
from modelyard.deployments._types import Deployment, DeploymentStatus, TargetStatus
from modelyard.errors import (
    ConflictError,
    DeploymentNotFoundError,
    ModelyardError,
    ValidationError,
)
from modelyard.store import Database
from modelyard.store._schema import deployment_status, deployments
from modelyard.store._sql import upsert

if TYPE_CHECKING:  # the registry brings pandas and the flavors
    from modelyard.registry import Registry

__all__ = ["Action", "DeploymentStore"]

Action = Literal["created", "updated", "unchanged"]
_CHANGEABLE = frozenset(DeploymentSpec.model_fields) - {"name"}


class DeploymentStore:
    """Create, change, list and delete deployments; record what servers report.

    Statuses not refreshed for ``stale_after_s`` seconds are left out of :meth:`statuses`:
    their server stopped (or lost the database), so what they said no longer holds.

    ``registry`` may also be a function returning it, called the first time a target must
    be resolved: reading deployments then never imports the registry (pandas, flavors).

    Example:
        >>> store.create(DeploymentSpec(name="fraud", model="fraud", traffic="champion=9,v4=1"))
        >>> store.update("fraud", traffic="champion=1")
        >>> store.get("fraud").revision
        2
    """

    def __init__(
        self,
        db: Database,
        registry: Registry | Callable[[], Registry],
        *,
        feature_service: Callable[[str], object] | None = None,
        stale_after_s: float = 60.0,
    ) -> None:
        self.db = db
        self._registry = registry
        self._feature_service = feature_service
        self.stale_after_s = stale_after_s

    @property
    def registry(self) -> Registry:
        if callable(self._registry):
            self._registry = self._registry()
        return self._registry

    # -- writing -------------------------------------------------------------------------

    def create(self, spec: DeploymentSpec) -> Deployment:
        """Store a new deployment at revision 1 once every target resolves.

        Raises ConflictError when the name is taken, ModelNotFoundError,
        AliasNotFoundError or ModelVersionNotFoundError when a target does not resolve.
        """
        with self.db.read() as conn:
            if _row(conn, spec.name) is not None:
                raise _exists(spec.name)
        self._check_targets(spec)
        now = now_ms()
        try:
            with self.db.write() as conn:
                _insert(conn, spec, now)
        except DBIntegrityError:
            raise _exists(spec.name) from None
        return Deployment(spec, 1, now, now)

    def update(self, name: str, /, **changes: Any) -> Deployment:
        """Change some fields of a deployment's spec (validated like :meth:`create`); the
        revision grows by one with every call, so a server reloads even if nothing changed."""
        unknown = sorted(set(changes) - _CHANGEABLE)
        if unknown:
            raise ValidationError(
                f"cannot change {', '.join(unknown)} of a deployment; "
                f"changeable: {', '.join(sorted(_CHANGEABLE))}",
                details={"fields": unknown},
            )
        current = self.get(name)
        spec = DeploymentSpec(**{**current.spec.model_dump(), **changes, "name": name})
        self._check_targets(spec)
        now = now_ms()
        with self.db.write() as conn:
            _replace(conn, current, spec, now)
        return Deployment(spec, current.revision + 1, current.created_at, now)

    def delete(self, name: str) -> None:
        """Remove a deployment and the statuses reported for it."""
        with self.db.write() as conn:
            conn.execute(deployment_status.delete().where(deployment_status.c.deployment == name))
            if conn.execute(deployments.delete().where(deployments.c.name == name)).rowcount == 0:
                raise DeploymentNotFoundError(name, _names(conn))

    def apply_file(self, path: Path) -> builtins.list[tuple[str, Action]]:
        """Create or update every ``[deployments.NAME]`` table of a TOML file.

        All-or-nothing: every spec is validated and every target resolved before one
        transaction writes them all. Deployments the file does not name are left alone; an
        unchanged spec keeps its revision. Returns ``(name, "created"|"updated"|"unchanged")``.
        """
        specs = read_deployments_file(path)
        existing = {d.name: d for d in self.list()}
        plan: builtins.list[tuple[DeploymentSpec, Action]] = []
        for spec in specs:
            old = existing.get(spec.name)
            if old is not None and old.spec == spec:
                plan.append((spec, "unchanged"))
                continue
            try:
                self._check_targets(spec)
            except ModelyardError as exc:
                exc.details.update(deployment=spec.name, file=str(path))
                raise
            plan.append((spec, "created" if old is None else "updated"))
        now = now_ms()
        try:
            with self.db.write() as conn:
                for spec, action in plan:
                    if action == "created":
                        _insert(conn, spec, now)
                    elif action == "updated":
                        _replace(conn, existing[spec.name], spec, now)
        except DBIntegrityError:
            raise ConflictError(
                f"deployments in {path} were created by someone else meanwhile; apply again",
                details={"file": str(path)},
            ) from None
        return [(spec.name, action) for spec, action in plan]

    def _check_targets(self, spec: DeploymentSpec) -> None:
        self.registry.get_model(spec.model)
        for target in spec.targets:
            self.registry.resolve(spec.target_uri(target))
        if spec.feature_service is not None:
            if self._feature_service is None:
                raise ValidationError(
                    f"deployment {spec.name!r} declares feature service "
                    f"{spec.feature_service!r}, but this store has no feature registry"
                )
            self._feature_service(spec.feature_service)  # FeatureNotFoundError lists them

    # -- reading -------------------------------------------------------------------------

    def get(self, name: str) -> Deployment:
        with self.db.read() as conn:
            row = _row(conn, name)
            if row is None:
                raise DeploymentNotFoundError(name, _names(conn))
        return _deployment(row)

    def list(self) -> builtins.list[Deployment]:
        """Every deployment, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(deployments).order_by(deployments.c.name)).all()
        return [_deployment(r) for r in rows]

    def revisions(self) -> dict[str, int]:
        """``{name: revision}`` of every deployment: what a server polls to notice changes."""
        with self.db.read() as conn:
            rows = conn.execute(select(deployments.c.name, deployments.c.revision)).all()
        return {row.name: row.revision for row in rows}

    # -- server statuses -----------------------------------------------------------------

    def report_status(self, status: DeploymentStatus) -> None:
        """Record what one server serves for one deployment, replacing its last report.

        Raises DeploymentNotFoundError when the deployment was deleted meanwhile.
        """
        if not 0 < len(status.server_id) <= 255:
            raise ValidationError("a server id has 1 to 255 characters")
        row = {
            "deployment": status.deployment,
            "server_id": status.server_id,
            "status": status.to_dict(),
            "updated_at": status.updated_at,
        }
        with self.db.write() as conn:
            if _row(conn, status.deployment) is None:
                raise DeploymentNotFoundError(status.deployment, _names(conn))
            upsert(
                conn,
                deployment_status,
                [row],
                ["deployment", "server_id"],
                ["status", "updated_at"],
            )

    def statuses(
        self, name: str, *, stale_after_s: float | None = None
    ) -> builtins.list[DeploymentStatus]:
        """The latest report of each server about ``name``, newest first, without those older
        than ``stale_after_s`` (default: the store's, 60 s; ``0`` or less keeps them all)."""
        horizon = self.stale_after_s if stale_after_s is None else stale_after_s
        stmt = select(deployment_status).where(deployment_status.c.deployment == name)
        if horizon > 0:
            stmt = stmt.where(deployment_status.c.updated_at >= now_ms() - int(horizon * 1000))
        stmt = stmt.order_by(deployment_status.c.updated_at.desc(), deployment_status.c.server_id)
        with self.db.read() as conn:
            if _row(conn, name) is None:
                raise DeploymentNotFoundError(name, _names(conn))
            rows = conn.execute(stmt).all()
        return [
            DeploymentStatus(
                deployment=r.deployment,
                server_id=r.server_id,
                ready=bool(r.status["ready"]),
                targets=tuple(TargetStatus.from_dict(t) for t in r.status["targets"]),
                updated_at=r.updated_at,
            )
            for r in rows
        ]


def _row(conn: Connection, name: str) -> Any:
    return conn.execute(select(deployments).where(deployments.c.name == name)).first()


def _names(conn: Connection) -> list[str]:
    return list(
        conn.execute(select(deployments.c.name).order_by(deployments.c.name).limit(50)).scalars()
    )


def _insert(conn: Connection, spec: DeploymentSpec, now: int) -> None:
    conn.execute(
        deployments.insert().values(
            name=spec.name, spec=spec.to_dict(), revision=1, created_at=now, updated_at=now
        )
    )


def _replace(conn: Connection, current: Deployment, spec: DeploymentSpec, now: int) -> None:
    """Write ``spec`` over ``current`` unless another writer changed it since it was read."""
    result = conn.execute(
        update(deployments)
        .where(deployments.c.name == spec.name, deployments.c.revision == current.revision)
        .values(spec=spec.to_dict(), revision=current.revision + 1, updated_at=now)
    )
    if result.rowcount == 0:
        if _row(conn, spec.name) is None:
            raise DeploymentNotFoundError(spec.name, _names(conn))
        raise ConflictError(
            f"deployment {spec.name!r} was changed by someone else meanwhile; try again",
            details={"deployment": spec.name, "revision": current.revision},
        )


def _deployment(row: Any) -> Deployment:
    return Deployment(DeploymentSpec(**row.spec), row.revision, row.created_at, row.updated_at)


def _exists(name: str) -> ConflictError:
    return ConflictError(f"deployment {name!r} already exists", details={"deployment": name})
