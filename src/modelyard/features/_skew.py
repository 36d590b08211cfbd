"""Training/serving skew: what the offline path computes against what the online path serves.

For each feature view of a service (or list of refs), a seeded sample of its entities is
asked for their values "now" both ways: the point-in-time join at the current time over
the view's dataset, and a read from the online store. Every difference is reported: a
stale or missing online value, a value written by something else, a changed definition
that was not materialized. On-demand outputs need request data and are not compared;
their inputs are.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelyard.data._duck import connect, ident

if TYPE_CHECKING:
    from modelyard.features._store import FeatureStore

__all__ = ["Mismatch", "SkewReport", "skew"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    view: str
    feature: str
    entity: dict[str, Any]
    offline: Any
    online: Any
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "feature": self.feature,
            "entity": self.entity,
            "offline": self.offline,
            "online": self.online,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class SkewReport:
    compared: int  # values compared
    entities: int
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # on-demand outputs not compared

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "entities": self.entities,
            "mismatches": [m.to_dict() for m in self.mismatches],
            "skipped": self.skipped,
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int):
        return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-12) or (
            math.isnan(a) and math.isnan(float(b))
        )
    if isinstance(a, dt.datetime) and isinstance(b, str):
        return a.isoformat() == b or a.astimezone(dt.UTC).isoformat() == b.replace("Z", "+00:00")
    return bool(a == b)


def skew(
    store: FeatureStore,
    features: Sequence[str] | str,
    *,
    sample: int = 1000,
    now: dt.datetime | None = None,
    seed: int = 0,
) -> SkewReport:
    """Compare offline and online values for a sample of entities (see the module)."""
    at = now or dt.datetime.now(dt.UTC)
    resolved = store.registry.resolve_all(features)
    mismatches: list[Mismatch] = []
    compared = entities = 0
    for registered, names in resolved.views:
        view = registered.view
        keys = view.join_key_names
        version = store.datasets.get(view.source)
        con = connect(store.data_settings)
        try:
            relation = store.datasets.relation(version, con)
            cols = ", ".join(ident(k) for k in keys)
            sampled = con.sql(
                f"SELECT * FROM (SELECT DISTINCT {cols} FROM {relation}) "
                f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({int(seed)}) "
                f"ORDER BY {cols}"
            ).to_arrow_table()
        finally:
            con.close()
        if sampled.num_rows == 0:
            continue
        refs = [f"{view.name}@v{registered.version}:{n}" for n in names]
        rows = sampled.append_column(
            "event_timestamp", pa.array([at] * sampled.num_rows, pa.timestamp("us", "UTC"))
        )
        offline = store.get_historical_features(rows, refs)
        online = store.get_online_features(refs, {k: sampled.column(k).to_pylist() for k in keys})
        by_name = dict(zip(online["metadata"]["feature_names"], online["results"], strict=True))
        entities += sampled.num_rows
        for name in names:
            offline_values = offline.column(name).to_pylist()
            served = by_name[name]
            for i, (want, got) in enumerate(zip(offline_values, served["values"], strict=True)):
                compared += 1
                if (want is None and got is None) or (
                    want is not None and got is not None and _same(want, got)
                ):
                    continue
                entity = {k: sampled.column(k)[i].as_py() for k in keys}
                mismatches.append(
                    Mismatch(view.name, name, entity, want, got, served["statuses"][i])
                )
    skipped = [f"{odfv.name}:{f}" for odfv, outputs in resolved.on_demand for f in outputs]
    return SkewReport(compared, entities, mismatches, skipped)
