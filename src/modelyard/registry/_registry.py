"""The model registry: numbered versions, aliases with history, verified loading.

Version numbers come from a counter row bumped inside the registering transaction (a row
lock on PostgreSQL, the write lock on SQLite), so concurrent registrations get consecutive
numbers with no gap or duplicate; the artifact is stored before the transaction, so a failed
upload never consumes a number.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from modelyard._ids import current_user, now_ms
from modelyard.errors import (
    AliasNotFoundError,
    ConflictError,
    FlavorError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
    ModelyardError,
    RunNotFoundError,
)
from modelyard.registry._loaded import LoadedModel
from modelyard.registry._signature import Signature, coerce_input, example_to_json, infer_signature
from modelyard.registry._types import AliasAction, AliasEvent, ModelVersion, RegisteredModel
from modelyard.registry._uri import ModelRef, check_alias, check_model_name, parse_model_uri
from modelyard.registry.flavors import Flavor, flavor_for, get_flavor
from modelyard.store import ArtifactStore, Database
from modelyard.store._schema import (
    alias_events,
    model_aliases,
    model_versions,
    registered_models,
    runs,
)
from modelyard.store._sql import insert_ignore, upsert
from modelyard.tracking import TrackingStore

__all__ = ["Registry"]


class Registry:
    """Register, find, alias and load models.

    Example:
        >>> mv = registry.register("fraud", model, run_id=run.id, input_example=X[:5])
        >>> registry.set_alias("fraud", "champion", mv.version)
        >>> registry.load("models:/fraud@champion").predict(X)
    """

    def __init__(self, db: Database, artifacts: ArtifactStore, tracking: TrackingStore) -> None:
        self.db = db
        self.artifacts = artifacts
        self.tracking = tracking

    # -- registering ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        model: object,
        *,
        run_id: str | None = None,
        input_example: Any = None,
        signature: Signature | None = None,
        flavor: str | Flavor | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name`` (created on first use).

        The flavor is detected from the model unless given; the signature is inferred from
        ``input_example`` (and the model's output on it) unless given.
        """
        check_model_name(name)
        chosen = get_flavor(flavor) if isinstance(flavor, str) else (flavor or flavor_for(model))
        if run_id is not None:
            self._check_run(run_id)
        example = example_to_json(input_example) if input_example is not None else None
        if signature is None and input_example is not None:
            signature = self._infer(chosen, model, input_example)
        with tempfile.TemporaryDirectory(prefix="modelyard-save-") as tmp:
            try:
                info = chosen.save(model, Path(tmp))
            except ModelyardError:
                raise
            except Exception as exc:
                raise FlavorError(
                    f"the {chosen.name} flavor cannot save this model: {exc}"
                ) from exc
            blob = self.artifacts.put_tree(tmp)
        now = now_ms()
        with self.db.write() as conn:
            insert_ignore(
                conn,
                registered_models,
                [
                    {
                        "name": name,
                        "description": None,
                        "latest_version": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
                ["name"],
            )
            version = conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(latest_version=registered_models.c.latest_version + 1, updated_at=now)
                .returning(registered_models.c.latest_version)
            ).scalar_one()
            conn.execute(
                model_versions.insert().values(
                    name=name,
                    version=version,
                    run_id=run_id,
                    flavor=chosen.name,
                    artifact_digest=blob.digest,
                    signature=signature.to_dict() if signature else None,
                    input_example=example,
                    flavor_info=info,
                    description=description,
                    created_at=now,
                )
            )
        if run_id is not None:
            self.tracking.record_artifact(run_id, f"models/{name}/v{version}", blob, is_dir=True)
        return self.get_version(name, version)

    def _infer(self, flavor: Flavor, model: object, example: Any) -> Signature:
        inputs = infer_signature(example)
        try:
            output = flavor.predict(model, coerce_input(example, inputs))
        except ModelyardError:
            raise
        except Exception as exc:
            raise FlavorError(f"the model fails to predict its own input example: {exc}") from exc
        return infer_signature(example, output)

    def _check_run(self, run_id: str) -> None:
        with self.db.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise RunNotFoundError(run_id)

    # -- reading -------------------------------------------------------------------------

    def list_models(self) -> list[RegisteredModel]:
        with self.db.read() as conn:
            rows = conn.execute(select(registered_models).order_by(registered_models.c.name)).all()
            aliases = _aliases(conn, None)
        return [_model(r, aliases.get(r.name, {})) for r in rows]

    def get_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._model_row(conn, name)
            return _model(row, _aliases(conn, name).get(name, {}))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        with self.db.read() as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.name == name)
                .order_by(model_versions.c.version.desc())
            ).all()
            aliases = _aliases(conn, name).get(name, {})
        return [_version(r, aliases) for r in rows]

    def get_version(self, name: str, version: int) -> ModelVersion:
        with self.db.read() as conn:
            return self._version(conn, name, version)

    def resolve(self, uri: str | ModelRef) -> ModelVersion:
        """The version a URI names: ``models:/fraud@champion``, ``models:/fraud/3``, ..."""
        ref = parse_model_uri(uri) if isinstance(uri, str) else uri
        with self.db.read() as conn:
            model = self._model_row(conn, ref.name)
            if ref.alias is not None:
                aliases = _aliases(conn, ref.name).get(ref.name, {})
                if ref.alias not in aliases:
                    raise AliasNotFoundError(ref.name, ref.alias, sorted(aliases))
                return self._version(conn, ref.name, aliases[ref.alias])
            if model.latest_version == 0:
                raise ModelVersionNotFoundError(ref.name, 1, 0)
            return self._version(conn, ref.name, ref.version or model.latest_version)

    def _model_row(self, conn: Connection, name: str) -> Any:
        row = conn.execute(
            select(registered_models).where(registered_models.c.name == name)
        ).first()
        if row is None:
            known = list(conn.execute(select(registered_models.c.name).limit(20)).scalars())
            raise ModelNotFoundError(name, known)
        return row

    def _version(self, conn: Connection, name: str, version: int) -> ModelVersion:
        row = conn.execute(
            select(model_versions).where(
                model_versions.c.name == name, model_versions.c.version == version
            )
        ).first()
        if row is None:
            latest = self._model_row(conn, name).latest_version
            raise ModelVersionNotFoundError(name, version, latest)
        return _version(row, _aliases(conn, name).get(name, {}))

    # -- aliases -------------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> AliasEvent:
        """Point ``alias`` at ``version``; the move is recorded in the alias history."""
        check_alias(alias)
        return self._move(name, alias, version, AliasAction.SET, reason, actor)

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasEvent:
        check_alias(alias)
        return self._move(name, alias, None, AliasAction.DELETE, reason, actor)

    def rollback(
        self,
        name: str,
        alias: str = "champion",
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> AliasEvent:
        """Return ``alias`` to the version it pointed at before its current one.

        Rolling back again goes one further step back, as an undo stack would.
        """
        check_alias(alias)
        stack = self._alias_stack(name, alias)
        if len(stack) < 2:
            raise ConflictError(
                f"alias {alias!r} of model {name!r} has no earlier version to roll back to",
                details={"model": name, "alias": alias},
            )
        return self._move(name, alias, stack[-2], AliasAction.ROLLBACK, reason, actor)

    def _alias_stack(self, name: str, alias: str) -> list[int]:
        stack: list[int] = []
        for event in reversed(self.alias_history(name, alias)):
            if event.action == AliasAction.ROLLBACK:
                stack.pop()
            elif event.action == AliasAction.SET and event.version is not None:
                stack.append(event.version)
            else:
                stack.clear()
        return stack

    def _move(
        self,
        name: str,
        alias: str,
        version: int | None,
        action: AliasAction,
        reason: str | None,
        actor: str | None,
    ) -> AliasEvent:
        now = now_ms()
        with self.db.write() as conn:
            if version is not None:
                self._version(conn, name, version)
            else:
                self._model_row(conn, name)
            previous = conn.execute(
                select(model_aliases.c.version).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            ).scalar()
            if action == AliasAction.DELETE:
                if previous is None:
                    known = sorted(_aliases(conn, name).get(name, {}))
                    raise AliasNotFoundError(name, alias, known)
                conn.execute(
                    model_aliases.delete().where(
                        model_aliases.c.name == name, model_aliases.c.alias == alias
                    )
                )
            else:
                upsert(
                    conn,
                    model_aliases,
                    [{"name": name, "alias": alias, "version": version, "updated_at": now}],
                    ["name", "alias"],
                    ["version", "updated_at"],
                )
            event_id = conn.execute(
                alias_events.insert()
                .values(
                    name=name,
                    alias=alias,
                    action=action,
                    version=version,
                    previous_version=previous,
                    at=now,
                    actor=actor or current_user(),
                    reason=reason,
                )
                .returning(alias_events.c.id)
            ).scalar_one()
        return AliasEvent(
            event_id, name, alias, action, version, previous, now, actor or current_user(), reason
        )

    def alias_history(
        self, name: str, alias: str | None = None, limit: int = 1000
    ) -> list[AliasEvent]:
        """Alias moves of ``name`` (optionally one alias), newest first."""
        stmt = select(alias_events).where(alias_events.c.name == name)
        if alias is not None:
            stmt = stmt.where(alias_events.c.alias == alias)
        with self.db.read() as conn:
            self._model_row(conn, name)
            rows = conn.execute(stmt.order_by(alias_events.c.id.desc()).limit(limit)).all()
        return [
            AliasEvent(
                r.id,
                r.name,
                r.alias,
                AliasAction(r.action),
                r.version,
                r.previous_version,
                r.at,
                r.actor,
                r.reason,
            )
            for r in rows
        ]

    # -- loading -------------------------------------------------------------------------

    def load(self, uri: str | ModelRef) -> LoadedModel:
        """Load the model a URI names, verifying every byte against the recorded digest.

        Raises :class:`~modelyard.errors.IntegrityError` when the stored artifact changed.
        """
        mv = self.resolve(uri)
        flavor = get_flavor(mv.flavor)
        with tempfile.TemporaryDirectory(prefix="modelyard-load-") as tmp:
            folder = self.artifacts.get_tree(mv.digest, Path(tmp) / "model")
            try:
                native = flavor.load(folder, mv.flavor_info)
            except ModelyardError:
                raise
            except Exception as exc:
                raise FlavorError(f"the {flavor.name} flavor cannot load {mv.uri}: {exc}") from exc
        return LoadedModel(
            flavor=flavor,
            native=native,
            signature=mv.signature,
            uri=mv.uri,
            name=mv.name,
            version=mv.version,
            digest=mv.digest,
        )


def _aliases(conn: Connection, name: str | None) -> dict[str, dict[str, int]]:
    stmt = select(model_aliases.c.name, model_aliases.c.alias, model_aliases.c.version)
    if name is not None:
        stmt = stmt.where(model_aliases.c.name == name)
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for model, alias, version in conn.execute(stmt.order_by(model_aliases.c.alias)):
        found[model][alias] = version
    return found


def _model(row: Any, aliases: dict[str, int]) -> RegisteredModel:
    return RegisteredModel(
        row.name, row.description, row.latest_version, row.created_at, row.updated_at, aliases
    )


def _version(row: Any, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        flavor=row.flavor,
        digest=row.artifact_digest,
        run_id=row.run_id,
        signature=Signature.from_dict(row.signature) if row.signature else None,
        input_example=row.input_example,
        flavor_info=row.flavor_info,
        description=row.description,
        created_at=row.created_at,
        aliases=tuple(sorted(a for a, v in aliases.items() if v == row.version)),
    )
