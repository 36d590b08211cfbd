"""Serving features: materialization into the online store and Feast-format online reads.

Each registered view version has its own namespace in the online store
(``<view>__v<version>``), so a changed definition never mixes with the old one's values.
Materialization is incremental per view version and store: it remembers the event time it
reached and reads only newer rows next time; the store keeps the newest value per entity,
so re-running changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from modelyard._ids import now_ms
from modelyard.config import DataSettings
from modelyard.data import DatasetStore
from modelyard.data._duck import connect
from modelyard.errors import ValidationError
from modelyard.features._materialize import MaterializeResult, materialize
from modelyard.features._offline import same_family
from modelyard.features._on_demand import with_on_demand
from modelyard.features._online import FieldStatus, OnlineStore
from modelyard.features._registry import FeatureRegistry, RegisteredView, Resolved
from modelyard.store import Database
from modelyard.store._schema import feature_materializations
from modelyard.store._sql import upsert

__all__ = ["OnlineFrame", "materialize_views", "online_features", "online_name"]

_EPOCH = "1970-01-01T00:00:00Z"


def online_name(registered: RegisteredView) -> str:
    """The view version's namespace in the online store."""
    return f"{registered.view.name}__v{registered.version}"


def materialize_views(
    db: Database,
    registry: FeatureRegistry,
    datasets: DatasetStore,
    store: OnlineStore,
    store_id: str,
    *,
    views: Sequence[str] | None = None,
    until: dt.datetime | None = None,
    data_settings: DataSettings,
) -> list[MaterializeResult]:
    """Bring the online store up to date with the latest dataset version of each view."""
    chosen = [registry.view(name) for name in (views or registry.names("feature_view"))]
    results = []
    for registered in chosen:
        with db.read() as conn:
            row = (
                conn.execute(
                    select(feature_materializations).where(
                        (feature_materializations.c.view == registered.view.name)
                        & (feature_materializations.c.version == registered.version)
                        & (feature_materializations.c.store == store_id)
                    )
                )
                .mappings()
                .first()
            )
        since = dt.datetime.fromtimestamp(row["until"] / 1000, dt.UTC) if row else None
        version = datasets.get(registered.view.source)
        con = connect(data_settings)
        try:
            con.execute("SET TimeZone = 'UTC'")
            relation = datasets.relation(version, con)
            target = dataclasses.replace(registered.view, name=online_name(registered))
            result = materialize(con, relation, target, store, since=since, until=until)
        finally:
            con.close()
        reached = result.max_event_timestamp or since
        if reached is not None:
            with db.write() as conn:
                upsert(
                    conn,
                    feature_materializations,
                    [
                        {
                            "view": registered.view.name,
                            "version": registered.version,
                            "store": store_id,
                            "until": int(reached.timestamp() * 1000),
                            "dataset_version": version.id,
                            "rows": result.rows_written,
                            "updated_at": now_ms(),
                        }
                    ],
                    ["view", "version", "store"],
                    ["until", "dataset_version", "rows", "updated_at"],
                )
        results.append(dataclasses.replace(result, view=registered.view.name))
    return results


@dataclasses.dataclass(frozen=True, slots=True)
class OnlineFrame:
    """Online feature values as columns, in Feast's order: the entity columns (join keys
    and request fields) as given, then each feature asked for. Values read only as inputs
    of on-demand transforms are in ``values`` but not in ``names``.

    Attributes:
        names: the columns of the answer, in order.
        values: per column, one value per entity row (``None`` unless present).
        statuses: per column, one :class:`FieldStatus` name per entity row.
        event_timestamps: per column, the event time of each value (ISO 8601, UTC).
    """

    names: list[str]
    values: dict[str, list[Any]]
    statuses: dict[str, Sequence[str]]
    event_timestamps: dict[str, list[str | None]]

    def to_feast(self) -> dict[str, Any]:
        """Feast's ``get-online-features`` response body."""
        return {
            "metadata": {"feature_names": self.names},
            "results": [
                {
                    "values": self.values[name],
                    "statuses": self.statuses[name],
                    "event_timestamps": self.event_timestamps[name],
                }
                for name in self.names
            ],
        }


def online_features(
    resolved: Resolved,
    store: OnlineStore,
    entity_rows: Mapping[str, Sequence[Any]],
    *,
    full_feature_names: bool = False,
) -> OnlineFrame:
    """Feature values for ``entity_rows`` (columns: join keys, and request fields for
    on-demand views), on-demand transforms applied; raises ValidationError for a missing
    or mistyped key."""
    lengths = {len(values) for values in entity_rows.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValidationError("entities must be columns of the same, non-zero length")
    (count,) = lengths
    present = [FieldStatus.PRESENT] * count
    epoch: list[str | None] = [_EPOCH] * count
    names: list[str] = list(entity_rows)
    values: dict[str, list[Any]] = {n: list(entity_rows[n]) for n in names}
    statuses: dict[str, Sequence[str]] = dict.fromkeys(names, present)
    stamps: dict[str, list[str | None]] = dict.fromkeys(names, epoch)
    for registered, features in resolved.views:
        view = registered.view
        keys = _keys(view.name, view.join_keys, entity_rows)
        read = store.read(online_name(registered), keys, features, max_age=view.ttl)
        times = [_iso(t) for t in read.event_timestamps]
        for feature in features:
            name = f"{view.name}__{feature}" if full_feature_names else feature
            values[name] = read.values[feature]
            statuses[name] = read.statuses[feature]  # FieldStatus is a str
            stamps[name] = times
            if (view.name, feature) not in resolved.hidden:
                names.append(name)
    if resolved.on_demand:
        table = with_on_demand(pa.table(values), resolved, full_feature_names=full_feature_names)
        for odfv, outputs in resolved.on_demand:
            for feature in outputs:
                name = f"{odfv.name}__{feature}" if full_feature_names else feature
                values[name] = table.column(name).to_pylist()
                statuses[name] = [
                    FieldStatus.PRESENT if v is not None else FieldStatus.NULL_VALUE
                    for v in values[name]
                ]
                stamps[name] = epoch
                names.append(name)
    return OnlineFrame(names, values, statuses, stamps)


def _keys(
    view: str, join_keys: Sequence[Any], entity_rows: Mapping[str, Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """The entity keys of one view as tuples, checked against the declared key types."""
    columns = []
    for key in join_keys:
        if key.name not in entity_rows:
            raise ValidationError(
                f"feature view {view!r} needs the entity key {key.name!r} "
                f"(given: {', '.join(entity_rows)})"
            )
        values = entity_rows[key.name]
        wanted = "integer" if same_family(key.dtype, "BIGINT") else None
        for value in values:
            if value is None:
                continue
            ok = (
                isinstance(value, int) and not isinstance(value, bool)
                if wanted
                else isinstance(value, str)
                if same_family(key.dtype, "VARCHAR")
                else True
            )
            if not ok:
                raise ValidationError(
                    f"entity key {key.name!r} of feature view {view!r} is {key.dtype}; "
                    f"got {value!r} ({type(value).__name__})"
                )
        columns.append(values)
    return list(zip(*columns, strict=True))


def _iso(stamp: dt.datetime | None) -> str | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
