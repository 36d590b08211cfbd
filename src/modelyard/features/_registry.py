"""The feature registry: versioned definitions in the metadata database, and ``apply``.

``apply`` compares the definitions found in the workspace with the registered ones and
makes a plan: an object is added, updated (a changed definition gets the next version;
earlier versions stay readable) or unchanged. Every feature view is checked against its
source dataset first (join keys, timestamps and features present, with matching types);
if anything is wrong, nothing is registered.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from modelyard._ids import now_ms
from modelyard._modules import load_folder
from modelyard.data import DatasetStore
from modelyard.errors import (
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    FeatureNotFoundError,
    ValidationError,
)
from modelyard.features._offline import same_family
from modelyard.features._on_demand import OnDemandFeatureView
from modelyard.features._types import Entity, FeatureService, FeatureView, parse_refs
from modelyard.store import Database
from modelyard.store._schema import feature_definitions

__all__ = [
    "Action",
    "FeatureRegistry",
    "Plan",
    "PlanItem",
    "RegisteredView",
    "Resolved",
    "discover",
]

Definition = Entity | FeatureView | FeatureService | OnDemandFeatureView
_CACHE_KEYS = 1024
_KINDS: dict[type[Any], str] = {
    Entity: "entity",
    FeatureView: "feature_view",
    OnDemandFeatureView: "on_demand_feature_view",
    FeatureService: "feature_service",
}


class Action(enum.StrEnum):
    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class PlanItem:
    kind: str
    name: str
    action: Action
    version: int  # the version it will have (or has, when unchanged)
    changes: tuple[str, ...] = ()  # which top-level fields changed, for updates

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": str(self.action),
            "version": self.version,
            "changes": list(self.changes),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    items: tuple[PlanItem, ...] = ()
    applied: bool = False

    @property
    def changed(self) -> list[PlanItem]:
        return [i for i in self.items if i.action is not Action.UNCHANGED]

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True, slots=True)
class RegisteredView:
    """A feature view as registered: its definition and version."""

    view: FeatureView
    version: int
    digest: str
    created_at: int

    @property
    def ref(self) -> str:
        return f"{self.view.name}@v{self.version}"


def discover(folder: Path) -> list[Definition]:
    """Every entity, feature view, on-demand feature view and feature service defined at
    module level in the ``*.py`` files of ``folder``."""
    kinds = Entity | FeatureView | OnDemandFeatureView | FeatureService
    found: list[Definition] = []
    for _path, module in load_folder(folder, "modelyard_features", ValidationError):
        found += [v for v in vars(module).values() if isinstance(v, kinds)]
    return found


def _digest(data: dict[str, Any]) -> str:
    """The version identity of a definition: a transform counts by its source text, not
    by its pickled bytes (which differ between processes)."""
    data = {k: v for k, v in data.items() if k != "udf"}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolved:
    """Feature refs resolved: views with the features to read, on-demand views with the
    outputs asked for, and the (view, feature) pairs read only as transform inputs."""

    views: list[tuple[RegisteredView, list[str]]]
    on_demand: list[tuple[OnDemandFeatureView, list[str]]]
    hidden: set[tuple[str, str]]


class FeatureRegistry:
    """Registered entities, feature views and services, every version kept."""

    def __init__(self, db: Database, datasets: DatasetStore, *, cache_ttl_s: float = 5.0) -> None:
        self.db = db
        self.datasets = datasets
        # resolved refs, as Feast caches its registry: definitions applied by another
        # process are seen within ``cache_ttl_s``; those applied here, at once
        # key -> (monotonic deadline, answer); a plain dict, read without a lock on the
        # serving path (a get and a set are atomic), emptied when it grows past 1024 keys
        self._resolved: dict[tuple[str, ...] | str, tuple[float, Resolved]] = {}
        self._cache_ttl_s = cache_ttl_s

    # -- apply ---------------------------------------------------------------------------

    def plan(self, objects: Sequence[Definition]) -> Plan:
        """What :meth:`apply` would do with ``objects``, checked, without doing it."""
        self._check(objects)
        with self.db.read() as conn:
            return Plan(tuple(self._plan_item(conn, obj) for obj in self._unique(objects)))

    def apply(self, objects: Sequence[Definition], *, dry_run: bool = False) -> Plan:
        """Register ``objects`` (see the module docstring); all or nothing."""
        self._check(objects)
        if dry_run:
            return self.plan(objects)
        with self.db.write() as conn:
            items = [self._plan_item(conn, obj) for obj in self._unique(objects)]
            rows = [
                {
                    "kind": item.kind,
                    "name": item.name,
                    "version": item.version,
                    "digest": _digest(obj.to_dict()),
                    "definition": obj.to_dict(),
                    "created_at": now_ms(),
                }
                for item, obj in zip(items, self._unique(objects), strict=True)
                if item.action is not Action.UNCHANGED
            ]
            if rows:
                conn.execute(feature_definitions.insert(), rows)
        self._resolved = {}
        return Plan(tuple(items), applied=True)

    def _unique(self, objects: Sequence[Definition]) -> list[Definition]:
        seen: dict[tuple[str, str], Definition] = {}
        for obj in objects:
            key = (_KINDS[type(obj)], obj.name)
            if key in seen and seen[key] != obj:
                raise ValidationError(f"{key[0]} {obj.name!r} is defined twice, differently")
            seen[key] = obj
        return list(seen.values())

    def _plan_item(self, conn: Connection, obj: Definition) -> PlanItem:
        kind = _KINDS[type(obj)]
        row = self._latest_row(conn, kind, obj.name)
        data = obj.to_dict()
        if row is None:
            return PlanItem(kind, obj.name, Action.ADD, 1)
        if row["digest"] == _digest(data):
            return PlanItem(kind, obj.name, Action.UNCHANGED, row["version"])
        old = row["definition"]
        changes = tuple(sorted(k for k in set(old) | set(data) if old.get(k) != data.get(k)))
        return PlanItem(kind, obj.name, Action.UPDATE, row["version"] + 1, changes)

    def _check(self, objects: Sequence[Definition]) -> None:
        """Every problem with ``objects``, raised together, before anything is written."""
        problems: list[str] = []
        views: dict[str, FeatureView | OnDemandFeatureView] = {
            o.name: o for o in objects if isinstance(o, FeatureView | OnDemandFeatureView)
        }
        for view in views.values():
            if isinstance(view, FeatureView):
                problems += self._view_problems(view)
        users = [o for o in objects if isinstance(o, FeatureService | OnDemandFeatureView)]
        for user in users:
            label = f"{_KINDS[type(user)].replace('_', ' ')} {user.name!r}"
            refs = user.features if isinstance(user, FeatureService) else user.sources
            for name, version, feature in parse_refs(refs):
                used = views.get(name) if version is None else None
                if used is None:
                    try:
                        used = self.view(name, version).view
                    except FeatureNotFoundError:
                        problems.append(f"{label}: no view {name!r}")
                        continue
                known = [f.name for f in used.features]
                if feature != "*" and feature not in known:
                    problems.append(
                        f"{label}: view {name!r} has no feature {feature!r} "
                        f"(features: {', '.join(known)})"
                    )
        if problems:
            raise ValidationError(
                "nothing was applied: " + "; ".join(problems), details={"problems": problems}
            )

    def _view_problems(self, view: FeatureView) -> list[str]:
        try:
            schema = dict(self.datasets.get(view.source).schema)
        except (DatasetNotFoundError, DatasetVersionNotFoundError):
            return [f"feature view {view.name!r}: source dataset {view.source!r} does not exist"]
        problems = []
        wanted = [*view.join_keys, *view.features]
        for column in wanted:
            if column.name not in schema:
                problems.append(
                    f"feature view {view.name!r}: dataset {view.source!r} has no column "
                    f"{column.name!r} (columns: {', '.join(schema)})"
                )
            elif not same_family(schema[column.name], column.dtype):
                problems.append(
                    f"feature view {view.name!r}: column {column.name!r} is "
                    f"{schema[column.name]} in {view.source!r}, declared {column.dtype}"
                )
        for stamp in filter(None, (view.timestamp_field, view.created_timestamp_field)):
            if stamp not in schema:
                problems.append(
                    f"feature view {view.name!r}: dataset {view.source!r} has no timestamp "
                    f"column {stamp!r}"
                )
            elif not schema[stamp].startswith(("TIMESTAMP", "DATE")):
                problems.append(f"feature view {view.name!r}: {stamp!r} is {schema[stamp]}")
        return problems

    # -- reading -------------------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        with self.db.read() as conn:
            return list(
                conn.execute(
                    select(feature_definitions.c.name)
                    .where(feature_definitions.c.kind == kind)
                    .distinct()
                    .order_by(feature_definitions.c.name)
                ).scalars()
            )

    def view(self, name: str, version: int | None = None) -> RegisteredView:
        """The latest (or given) version of feature view ``name``."""
        with self.db.read() as conn:
            if version is None:
                row = self._latest_row(conn, "feature_view", name)
            else:
                row = (
                    conn.execute(
                        select(feature_definitions).where(
                            (feature_definitions.c.kind == "feature_view")
                            & (feature_definitions.c.name == name)
                            & (feature_definitions.c.version == version)
                        )
                    )
                    .mappings()
                    .first()
                )
        if row is None:
            label = name if version is None else f"{name}@v{version}"
            raise FeatureNotFoundError("feature view", label, self.names("feature_view"))
        return RegisteredView(
            FeatureView.from_dict(row["definition"]),
            row["version"],
            row["digest"],
            row["created_at"],
        )

    def views(self) -> list[RegisteredView]:
        return [self.view(name) for name in self.names("feature_view")]

    def versions(self, name: str) -> list[RegisteredView]:
        latest = self.view(name)
        return [self.view(name, v) for v in range(1, latest.version + 1)]

    def entity(self, name: str) -> Entity:
        with self.db.read() as conn:
            row = self._latest_row(conn, "entity", name)
        if row is None:
            raise FeatureNotFoundError("entity", name, self.names("entity"))
        return Entity.from_dict(row["definition"])

    def service(self, name: str) -> FeatureService:
        with self.db.read() as conn:
            row = self._latest_row(conn, "feature_service", name)
        if row is None:
            raise FeatureNotFoundError("feature service", name, self.names("feature_service"))
        return FeatureService.from_dict(row["definition"])

    def on_demand_view(self, name: str) -> OnDemandFeatureView:
        with self.db.read() as conn:
            row = self._latest_row(conn, "on_demand_feature_view", name)
        if row is None:
            raise FeatureNotFoundError(
                "on-demand feature view", name, self.names("on_demand_feature_view")
            )
        return OnDemandFeatureView.from_dict(row["definition"])

    def resolve_all(self, features: Sequence[str] | str) -> Resolved:
        """Like :meth:`resolve`, with on-demand views: their source features are fetched
        too (listed in ``hidden`` when not asked for) so that the transforms can run.
        Answers are cached for ``cache_ttl_s`` (the serving path asks on every request)."""
        key = features if isinstance(features, str) else tuple(features)
        now = time.monotonic()
        hit = self._resolved.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        resolved = self._resolve_all(features)
        if len(self._resolved) >= _CACHE_KEYS:
            self._resolved = {}
        self._resolved[key] = (now + self._cache_ttl_s, resolved)
        return resolved

    def _resolve_all(self, features: Sequence[str] | str) -> Resolved:
        refs = self.service(features).features if isinstance(features, str) else features
        on_demand_names = set(self.names("on_demand_feature_view"))
        plain: list[str] = []
        on_demand: dict[str, tuple[OnDemandFeatureView, list[str]]] = {}
        for ref, (name, version, feature) in zip(refs, parse_refs(refs), strict=True):
            if name not in on_demand_names or version is not None:
                plain.append(ref)
                continue
            odfv, outputs = on_demand.setdefault(name, (self.on_demand_view(name), []))
            known = [f.name for f in odfv.schema]
            if feature == "*":
                outputs.extend(f for f in known if f not in outputs)
            elif feature not in known:
                raise FeatureNotFoundError("feature", f"{name}:{feature}", known)
            elif feature not in outputs:
                outputs.append(feature)
        asked = {(r.view.name, f) for r, features in self.resolve(plain) for f in features}
        sources = [s for odfv, _ in on_demand.values() for s in odfv.sources]
        hidden = {(n, f) for n, _v, f in parse_refs(sources)} - asked
        return Resolved(self.resolve([*plain, *sources]), list(on_demand.values()), hidden)

    def resolve(self, features: Sequence[str] | str) -> list[tuple[RegisteredView, list[str]]]:
        """Feature refs (or a feature service's name) as views with the features asked of
        each, in the order first named; unknown views or features raise
        FeatureNotFoundError listing what exists."""
        refs = self.service(features).features if isinstance(features, str) else features
        chosen: dict[str, tuple[RegisteredView, list[str]]] = {}
        for name, version, feature in parse_refs(refs):
            registered = self.view(name, version)
            entry = chosen.setdefault(registered.ref, (registered, []))
            known = [f.name for f in registered.view.features]
            if feature == "*":
                entry[1].extend(f for f in known if f not in entry[1])
            elif feature not in known:
                raise FeatureNotFoundError("feature", f"{name}:{feature}", known)
            elif feature not in entry[1]:
                entry[1].append(feature)
        return list(chosen.values())

    def _latest_row(self, conn: Connection, kind: str, name: str) -> Any:
        latest = (
            select(func.max(feature_definitions.c.version))
            .where((feature_definitions.c.kind == kind) & (feature_definitions.c.name == name))
            .scalar_subquery()
        )
        return (
            conn.execute(
                select(feature_definitions).where(
                    (feature_definitions.c.kind == kind)
                    & (feature_definitions.c.name == name)
                    & (feature_definitions.c.version == latest)
                )
            )
            .mappings()
            .first()
        )
