"""The feature store of a workspace: definitions, training data and (next) serving data.

Example:
    >>> ws.features.apply()  # registers what ``features/*.py`` defines
    >>> training = ws.features.get_historical_features(
    ...     entity_rows, ["user_stats:txn_count_1h", "user_stats:amount_mean_7d"], run=run
    ... )
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from modelyard.data import DatasetStore
from modelyard.data._duck import connect
from modelyard.errors import ValidationError
from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._registry import (
    Definition,
    FeatureRegistry,
    Plan,
    Resolved,
    discover,
)
from modelyard.features._types import parse_refs
from modelyard.store import Database

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.config import DataSettings, FeatureSettings
    from modelyard.tracking import ActiveRun

__all__ = ["FeatureStore", "with_on_demand"]


class FeatureStore:
    """Feature definitions and retrieval for one workspace."""

    def __init__(
        self,
        db: Database,
        datasets: DatasetStore,
        settings: FeatureSettings,
        data_settings: DataSettings,
        workspace: Path,
    ) -> None:
        self.registry = FeatureRegistry(db, datasets)
        self.datasets = datasets
        self.settings = settings
        self.data_settings = data_settings
        self.workspace = workspace

    @property
    def folder(self) -> Path:
        folder = Path(self.settings.definitions_dir)
        return folder if folder.is_absolute() else self.workspace / folder

    def definitions(self) -> list[Definition]:
        """What the workspace's definition modules declare."""
        return discover(self.folder)

    def apply(self, objects: Sequence[Definition] | None = None, *, dry_run: bool = False) -> Plan:
        """Register ``objects`` (default: the workspace's definitions); see
        :meth:`FeatureRegistry.apply`."""
        return self.registry.apply(self.definitions() if objects is None else objects,
                                   dry_run=dry_run)  # fmt: skip

    def get_historical_features(
        self,
        entity_rows: pa.Table | pd.DataFrame,
        features: Sequence[str] | str,
        *,
        full_feature_names: bool = False,
        run: ActiveRun | None = None,
    ) -> pa.Table:
        """Point-in-time correct feature values for every entity row (join keys and an
        ``event_timestamp``), as an Arrow table in the rows' order.

        ``features`` are refs (``view:feature``, ``view@v2:feature``, ``view:*``) or the
        name of a feature service. With ``run``, the feature view versions and the dataset
        versions they read are recorded in the run's lineage.
        """
        table = entity_rows if isinstance(entity_rows, pa.Table) else _to_arrow(entity_rows)
        if table.num_rows == 0:
            raise ValidationError("no entity rows were given")
        everything = self.registry.resolve_all(features)
        resolved = everything.views
        con = connect(self.data_settings)
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.register("__entity_rows", table)
            inputs = []
            versions = []
            for registered, names in resolved:
                version = self.datasets.get(registered.view.source)
                versions.append((registered, version, names))
                relation = self.datasets.relation(version, con)
                inputs.append(ViewInput(registered.view, relation, tuple(names)))
            sql = point_in_time_sql(
                con, "__entity_rows", inputs, full_feature_names=full_feature_names
            )
            result = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        result = with_on_demand(result, everything, full_feature_names=full_feature_names)
        if run is not None:
            for registered, version, names in versions:
                run.log_input(
                    "feature_view",
                    registered.ref,
                    details={"features": names, "dataset_version": version.ref},
                )
                run.log_input(
                    "dataset_version",
                    f"{version.dataset}@{version.id}",
                    role="features",
                    details={"rows": version.rows, "number": version.number},
                )
        return result


def with_on_demand(table: pa.Table, resolved: Resolved, *, full_feature_names: bool) -> pa.Table:
    """``table`` (entity or request columns plus view features) with the on-demand views'
    outputs added and the features read only as their inputs dropped."""

    def column(view: str, feature: str) -> str:
        return f"{view}__{feature}" if full_feature_names else feature

    for odfv, outputs in resolved.on_demand:
        inputs: dict[str, pa.ChunkedArray] = {}
        for view, _version, feature in parse_refs(odfv.sources):
            inputs[feature] = table.column(column(view, feature))
        for field in odfv.request:
            if field.name not in table.column_names:
                raise ValidationError(
                    f"on-demand feature view {odfv.name!r} needs the request field "
                    f"{field.name!r}; give it with the entity rows"
                )
            inputs[field.name] = table.column(field.name)
        out = odfv.apply(pa.table(inputs))
        for feature in outputs:
            table = table.append_column(column(odfv.name, feature), out.column(feature))
    hidden = [column(v, f) for v, f in resolved.hidden if column(v, f) in table.column_names]
    return table.drop_columns(hidden) if hidden else table


def _to_arrow(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, pa.ArrowInvalid) as exc:
        raise ValidationError(f"entity rows must be an Arrow table or a DataFrame: {exc}") from None
