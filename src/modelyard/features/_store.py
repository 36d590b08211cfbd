"""The feature store of a workspace: definitions, training data and (next) serving data.

Example:
    >>> ws.features.apply()  # registers what ``features/*.py`` defines
    >>> training = ws.features.get_historical_features(
    ...     entity_rows, ["user_stats:txn_count_1h", "user_stats:amount_mean_7d"], run=run
    ... )
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from modelyard.data import DatasetStore, DatasetVersion
from modelyard.data._duck import connect, ident
from modelyard.data._streams import mask_url
from modelyard.errors import ConfigError, ValidationError
from modelyard.features._materialize import MaterializeResult
from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._on_demand import with_on_demand
from modelyard.features._online import OnlineStore
from modelyard.features._online_redis import RedisOnlineStore
from modelyard.features._online_sqlite import SqliteOnlineStore
from modelyard.features._registry import (
    Definition,
    FeatureRegistry,
    Plan,
    RegisteredView,
    discover,
)
from modelyard.features._serving import (
    OnlineFrame,
    materialize_views,
    online_features,
    online_name,
)
from modelyard.features._skew import SkewReport, skew
from modelyard.features._types import Field
from modelyard.store import Database

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.config import DataSettings, FeatureSettings
    from modelyard.tracking import ActiveRun

__all__ = ["FeatureStore"]


class FeatureStore:
    """Feature definitions and retrieval for one workspace."""

    def __init__(
        self,
        db: Database,
        datasets: DatasetStore,
        settings: FeatureSettings,
        data_settings: DataSettings,
        workspace: Path,
        state: Path,
    ) -> None:
        self.db = db
        self.registry = FeatureRegistry(db, datasets)
        self.datasets = datasets
        self.settings = settings
        self.data_settings = data_settings
        self.workspace = workspace
        self.state = state

    @cached_property
    def online(self) -> OnlineStore:
        """The online store: SQLite in the state folder, or Redis by ``online_url``."""
        url = self.settings.online_url
        if not url:
            return SqliteOnlineStore(self.state / "online.db")
        if url.startswith(("redis://", "rediss://", "unix://")):
            return RedisOnlineStore(url, prefix=self.settings.online_prefix)
        raise ConfigError(f"features.online_url {mask_url(url)!r} is neither empty nor redis://")

    @property
    def online_id(self) -> str:
        """Names the online store in the materialization state (no secrets)."""
        return mask_url(self.settings.online_url) if self.settings.online_url else "sqlite"

    def close(self) -> None:
        if "online" in self.__dict__:
            self.online.close()
            del self.__dict__["online"]

    def materialize(
        self, views: Sequence[str] | None = None, *, until: dt.datetime | None = None
    ) -> list[MaterializeResult]:
        """Write what changed since the last materialization of each view (all, or
        ``views``) into the online store; idempotent."""
        return materialize_views(
            self.db,
            self.registry,
            self.datasets,
            self.online,
            self.online_id,
            views=views,
            until=until,
            data_settings=self.data_settings,
        )

    def get_online_features(
        self,
        features: Sequence[str] | str,
        entity_rows: Mapping[str, Sequence[Any]],
        *,
        full_feature_names: bool = False,
    ) -> dict[str, Any]:
        """Latest feature values for the entities in ``entity_rows`` (columns: join keys,
        and request fields for on-demand views), in Feast's response format:
        ``{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses",
        "event_timestamps"}, ...]}``."""
        return self.online_frame(
            features, entity_rows, full_feature_names=full_feature_names
        ).to_feast()

    def online_frame(
        self,
        features: Sequence[str] | str,
        entity_rows: Mapping[str, Sequence[Any]],
        *,
        full_feature_names: bool = False,
    ) -> OnlineFrame:
        """Like :meth:`get_online_features`, as columns (what a deployment predicts on)."""
        resolved = self.registry.resolve_all(features)
        return online_features(
            resolved, self.online, entity_rows, full_feature_names=full_feature_names
        )

    def request_fields(self, features: Sequence[str] | str) -> list[Field]:
        """What a caller must give to get ``features`` online: the join keys of their
        views, then the request fields of their on-demand views, each once."""
        resolved = self.registry.resolve_all(features)
        fields: dict[str, Field] = {}
        for registered, _features in resolved.views:
            for key in registered.view.join_keys:
                fields.setdefault(key.name, key)
        for odfv, _outputs in resolved.on_demand:
            for field in odfv.request:
                fields.setdefault(field.name, field)
        return list(fields.values())

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
        return self.registry.apply(
            self.definitions() if objects is None else objects, dry_run=dry_run
        )

    def push(self, view: str, columns: Mapping[str, Sequence[Any]], *, to: str = "online") -> int:
        """Write fresh rows of ``view`` (columns: its join keys, timestamp and features) to
        the online store (newer-only), or append them to its dataset (``offline``), or
        both (``online_and_offline``); returns the rows given."""
        registered = self.registry.view(view)
        v = registered.view
        wanted = [*v.join_keys, *v.features]
        con = connect(self.data_settings)
        try:
            con.execute("SET TimeZone = 'UTC'")
            try:
                con.register("__pushed", pa.table(dict(columns)))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
                raise ValidationError(f"the pushed rows are not a table: {exc}") from None
            given = set(columns)
            missing = [f.name for f in wanted if f.name not in given]
            if v.timestamp_field not in given:
                missing.append(v.timestamp_field)
            if missing:
                raise ValidationError(
                    f"pushed rows of feature view {view!r} lack {', '.join(missing)}"
                )
            target = (
                dict(self.datasets.get(v.source).schema)
                if to != "online"
                else {f.name: f.dtype for f in wanted} | {v.timestamp_field: "TIMESTAMPTZ"}
            )
            casts = ", ".join(
                f"CAST({ident(n)} AS {t}) AS {ident(n)}"
                if n in given
                else f"CAST(NULL AS {t}) AS {ident(n)}"
                for n, t in target.items()
            )
            try:
                table = con.sql(f"SELECT {casts} FROM __pushed").to_arrow_table()
            except duckdb.Error as exc:
                raise ValidationError(f"pushed rows of {view!r} do not convert: {exc}") from None
        finally:
            con.close()
        if to in ("offline", "online_and_offline"):
            self.datasets.write(v.source, table, append=True)
        if to in ("online", "online_and_offline"):
            online = table.select(
                [*v.join_key_names, v.timestamp_field, *(f.name for f in v.features)]
            )
            self.online.write(
                online_name(registered), online, keys=v.join_key_names, timestamp=v.timestamp_field
            )
        return int(table.num_rows)

    def skew(
        self, features: Sequence[str] | str, *, sample: int = 1000, seed: int = 0
    ) -> SkewReport:
        """Offline against online values for a sample of entities; see :mod:`._skew`."""
        return skew(self, features, sample=sample, seed=seed)

    def log_training_inputs(self, run: ActiveRun, features: Sequence[str] | str) -> None:
        """Record in ``run``'s lineage the feature view versions that ``features`` resolve
        to now and the dataset versions they read, as :meth:`get_historical_features` does
        with ``run``: for a training set built once and used by several runs."""
        versions = [
            (registered, self.datasets.get(registered.view.source), names)
            for registered, names in self.registry.resolve_all(features).views
        ]
        _log_inputs(run, versions)

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
            _log_inputs(run, versions)
        return result


def _log_inputs(
    run: ActiveRun, versions: Sequence[tuple[RegisteredView, DatasetVersion, list[str]]]
) -> None:
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


def _to_arrow(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (TypeError, pa.ArrowInvalid) as exc:
        raise ValidationError(f"entity rows must be an Arrow table or a DataFrame: {exc}") from None
