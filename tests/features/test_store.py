"""Registering feature definitions and building training data from datasets."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from modelyard import Workspace
from modelyard.errors import FeatureNotFoundError, ValidationError
from modelyard.features import (
    Action,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    on_demand_feature_view,
)

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STAMP = pa.timestamp("us", "UTC")
USER = Entity.of("user", {"user_id": "BIGINT"})


def at(hours: float) -> dt.datetime:
    return BASE + dt.timedelta(hours=hours)


def stats_view(**changes: object) -> FeatureView:
    values: dict[str, object] = {
        "name": "user_stats",
        "entities": (USER,),
        "source": "user_stats",
        "features": (Field("txn_count", "BIGINT"), Field("amount_mean", "DOUBLE")),
        "ttl": dt.timedelta(hours=2),
    }
    values.update(changes)
    return FeatureView(**values)  # type: ignore[arg-type]


@pytest.fixture
def ws(data_ws: Workspace) -> Workspace:
    data_ws.datasets.write(
        "user_stats",
        pa.table(
            {
                "user_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array([at(0), at(1), at(0.5)], STAMP),
                "txn_count": pa.array([3, 4, 9], pa.int64()),
                "amount_mean": [10.0, 12.5, 99.0],
            }
        ),
    )
    return data_ws


def test_apply_registers_then_versions_changed_views(ws: Workspace) -> None:
    service = FeatureService("fraud", ("user_stats:txn_count",))
    first = ws.features.apply([USER, stats_view(), service])
    assert [(i.kind, i.action, i.version) for i in first.items] == [
        ("entity", Action.ADD, 1),
        ("feature_view", Action.ADD, 1),
        ("feature_service", Action.ADD, 1),
    ]

    again = ws.features.apply([USER, stats_view(), service])
    assert [i.action for i in again.items] == [Action.UNCHANGED] * 3

    changed = ws.features.apply([USER, stats_view(ttl=dt.timedelta(hours=5)), service])
    update = changed.items[1]
    assert (update.action, update.version, update.changes) == (Action.UPDATE, 2, ("ttl_seconds",))
    assert ws.features.registry.view("user_stats").view.ttl == dt.timedelta(hours=5)
    assert ws.features.registry.view("user_stats", 1).view.ttl == dt.timedelta(hours=2)


def test_a_view_whose_dataset_lacks_a_column_is_refused_and_nothing_changes(
    ws: Workspace,
) -> None:
    broken = stats_view(features=(Field("txn_count", "BIGINT"), Field("missing", "DOUBLE")))
    with pytest.raises(ValidationError, match="no column 'missing'") as caught:
        ws.features.apply([USER, broken])
    assert "nothing was applied" in str(caught.value)
    assert ws.features.registry.names("entity") == []
    wrong_type = stats_view(features=(Field("txn_count", "VARCHAR"),))
    with pytest.raises(ValidationError, match="'txn_count' is BIGINT"):
        ws.features.apply([wrong_type])
    with pytest.raises(ValidationError, match="'nope' does not exist"):
        ws.features.apply([stats_view(source="nope")])


def test_historical_features_are_point_in_time_and_recorded_in_lineage(ws: Workspace) -> None:
    ws.features.apply([USER, stats_view()])
    rows = pa.table(
        {
            "user_id": pa.array([1, 1, 2, 3, 1], pa.int64()),
            "event_timestamp": pa.array([at(0.5), at(1), at(3), at(1), at(4)], STAMP),
        }
    )
    with ws.start_run("fraud") as run:
        table = ws.features.get_historical_features(
            rows, ["user_stats:txn_count", "user_stats:amount_mean"], run=run
        )

    assert table.column("txn_count").to_pylist() == [3, 4, None, None, None]
    assert table.column("amount_mean").to_pylist() == [10.0, 12.5, None, None, None]
    assert table.column("user_id").to_pylist() == [1, 1, 2, 3, 1]
    inputs = {(i.kind, i.ref) for i in ws.tracking.get_run(run.id).inputs}
    version = ws.datasets.get("user_stats")
    assert ("feature_view", "user_stats@v1") in inputs
    assert ("dataset_version", f"user_stats@{version.id}") in inputs


def test_unknown_views_and_features_list_what_exists(ws: Workspace) -> None:
    ws.features.apply([USER, stats_view()])
    rows = pa.table({"user_id": [1], "event_timestamp": pa.array([at(1)], STAMP)})
    with pytest.raises(FeatureNotFoundError, match="feature views: user_stats"):
        ws.features.get_historical_features(rows, ["nope:txn_count"])
    with pytest.raises(FeatureNotFoundError, match="txn_count, amount_mean"):
        ws.features.get_historical_features(rows, ["user_stats:nope"])
    with pytest.raises(ValidationError, match="not 'view:feature'"):
        ws.features.get_historical_features(rows, ["user_stats.txn_count"])


def test_a_feature_service_names_the_features(ws: Workspace) -> None:
    ws.features.apply([USER, stats_view(), FeatureService("fraud", ("user_stats:*",))])
    rows = pa.table({"user_id": [1], "event_timestamp": pa.array([at(1)], STAMP)})

    table = ws.features.get_historical_features(rows, "fraud", full_feature_names=True)

    assert table.column_names == [
        "user_id", "event_timestamp", "user_stats__txn_count", "user_stats__amount_mean"
    ]  # fmt: skip


def test_definitions_are_discovered_from_the_workspace(ws: Workspace) -> None:
    folder = ws.features.folder
    folder.mkdir(parents=True)
    (folder / "fraud.py").write_text(
        "import datetime as dt\n"
        "from modelyard.features import Entity, FeatureView, Field\n"
        "user = Entity.of('user', {'user_id': 'BIGINT'})\n"
        "stats = FeatureView('user_stats', (user,), 'user_stats',\n"
        "                    (Field('txn_count', 'BIGINT'),), ttl=dt.timedelta(hours=1))\n"
        "@on_demand_feature_view(sources=['user_stats:txn_count'],\n"
        "                        schema=[Field('busy', 'BOOLEAN')])\n"
        "def busy(rows):\n"
        "    return pa.table({'busy': pc.greater(rows['txn_count'], 10)})\n"
        "service = FeatureService('fraud', ('user_stats:*', 'busy:busy'))\n"
    )
    (folder / "fraud.py").write_text(
        "import pyarrow as pa\nimport pyarrow.compute as pc\n"
        "from modelyard.features import FeatureService, on_demand_feature_view\n"
        + (folder / "fraud.py").read_text()
    )

    plan = ws.features.apply()

    assert sorted((i.kind, i.name) for i in plan.items) == [
        ("entity", "user"), ("feature_service", "fraud"), ("feature_view", "user_stats"),
        ("on_demand_feature_view", "busy"),
    ]  # fmt: skip


@on_demand_feature_view(
    sources=["user_stats:amount_mean"],
    request=[Field("amount", "DOUBLE")],
    schema=[Field("amount_vs_mean", "DOUBLE")],
)
def amount_ratio(rows: pa.Table) -> pa.Table:
    return pa.table({"amount_vs_mean": pc.divide(rows["amount"], rows["amount_mean"])})


def test_on_demand_views_run_on_training_rows_and_version_by_their_code(ws: Workspace) -> None:
    first = ws.features.apply([USER, stats_view(), amount_ratio])
    assert first.items[-1].kind == "on_demand_feature_view"
    rows = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([at(1), at(0.5)], STAMP),
            "amount": [25.0, 9.9],
        }
    )

    table = ws.features.get_historical_features(
        rows, ["user_stats:txn_count", "amount_ratio:amount_vs_mean"]
    )

    assert table.column_names == ["user_id", "event_timestamp", "amount", "txn_count",
                                  "amount_vs_mean"]  # fmt: skip
    assert table.column("amount_vs_mean").to_pylist() == [2.0, 0.1]
    again = ws.features.apply([USER, stats_view(), amount_ratio])
    assert [i.action for i in again.items] == [Action.UNCHANGED] * 3
    with pytest.raises(ValidationError, match="needs the request field 'amount'"):
        ws.features.get_historical_features(rows.drop_columns(["amount"]), ["amount_ratio:*"])


def test_a_whole_view_asked_for_keeps_the_features_a_transform_reads(ws: Workspace) -> None:
    ws.features.apply([USER, stats_view(), amount_ratio])
    rows = pa.table({"user_id": pa.array([1], pa.int64()),
                     "event_timestamp": pa.array([at(1)], STAMP), "amount": [25.0]})  # fmt: skip

    table = ws.features.get_historical_features(rows, ["user_stats:*", "amount_ratio:*"])

    assert table.column_names[-3:] == ["txn_count", "amount_mean", "amount_vs_mean"]


def test_an_on_demand_view_over_an_unknown_feature_is_refused(ws: Workspace) -> None:
    @on_demand_feature_view(sources=["user_stats:nope"], schema=[Field("x", "DOUBLE")])
    def broken(rows: pa.Table) -> pa.Table:
        return rows

    with pytest.raises(ValidationError, match="has no feature 'nope'"):
        ws.features.apply([USER, stats_view(), broken])
