"""Deployments in the metadata database, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sklearn.dummy import DummyClassifier

from modelyard import Workspace
from modelyard._ids import now_ms
from modelyard.deployments import (
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStore,
    TargetState,
    TargetStatus,
)
from modelyard.errors import (
    AliasNotFoundError,
    ConflictError,
    DeploymentNotFoundError,
    FeatureNotFoundError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
    ModelyardError,
    ValidationError,
)


@pytest.fixture
def store(workspace: Workspace) -> DeploymentStore:
    """Model ``fraud`` with versions 1-3, champion -> 2, challenger -> 3."""
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for _ in range(3):
        workspace.registry.register("fraud", model)
    workspace.registry.set_alias("fraud", "champion", 2)
    workspace.registry.set_alias("fraud", "challenger", 3)
    return workspace.deployments


def _spec(**fields: Any) -> DeploymentSpec:
    return DeploymentSpec(**{"name": "fraud-api", "model": "fraud", **fields})


def _status(server: str, at: int, *targets: TargetStatus) -> DeploymentStatus:
    return DeploymentStatus("fraud-api", server, ready=True, targets=targets, updated_at=at)


def test_create_stores_the_spec_at_revision_1(store: DeploymentStore) -> None:
    spec = _spec(traffic="champion=0.9,challenger=0.1", shadow=["v1"], sticky="header:x-user")
    created = store.create(spec)
    assert created.revision == 1
    assert store.get("fraud-api") == created
    assert store.get("fraud-api").spec == spec


def test_default_traffic_is_all_to_the_champion(store: DeploymentStore) -> None:
    stored = store.create(_spec()).spec
    assert [(r.target, r.weight) for r in stored.traffic] == [("champion", 1.0)]


def test_list_is_ordered_by_name(store: DeploymentStore) -> None:
    for name in ("b", "a", "c"):
        store.create(_spec(name=name))
    assert [d.name for d in store.list()] == ["a", "b", "c"]


def test_update_changes_only_the_given_fields_and_bumps_the_revision(
    store: DeploymentStore,
) -> None:
    store.create(_spec(traffic="champion=1", description="first"))
    updated = store.update("fraud-api", traffic="champion=0.8,v3=0.2")
    assert updated.revision == 2
    stored = store.get("fraud-api")
    assert stored.revision == 2
    assert [r.target for r in stored.spec.traffic] == ["champion", "v3"]
    assert stored.spec.description == "first"
    assert stored.updated_at >= stored.created_at


def test_every_update_bumps_the_revision(store: DeploymentStore) -> None:
    store.create(_spec())
    store.update("fraud-api")
    store.update("fraud-api", description="x")
    assert store.revisions() == {"fraud-api": 3}


def test_revisions_name_every_deployment(store: DeploymentStore) -> None:
    store.create(_spec(name="a"))
    store.create(_spec(name="b"))
    store.update("b", cache={"enabled": True})
    assert store.revisions() == {"a": 1, "b": 2}


def test_a_taken_name_is_a_conflict_that_changes_nothing(store: DeploymentStore) -> None:
    store.create(_spec(description="original"))
    with pytest.raises(ConflictError, match="already exists"):
        store.create(_spec(description="other"))
    assert store.get("fraud-api").spec.description == "original"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"model": "nope"}, ModelNotFoundError),
        ({"traffic": "staging=1"}, AliasNotFoundError),
        ({"traffic": "champion=0.5,v9=0.5"}, ModelVersionNotFoundError),
        ({"shadow": ["canary"]}, AliasNotFoundError),
    ],
)
def test_create_with_an_unresolvable_target_writes_nothing(
    store: DeploymentStore, fields: dict[str, Any], error: type[ModelyardError]
) -> None:
    with pytest.raises(error):
        store.create(_spec(**fields))
    assert store.list() == []


@pytest.mark.parametrize(
    ("changes", "error", "needle"),
    [
        ({"model": "nope"}, ModelNotFoundError, "not registered"),
        ({"traffic": "staging=1"}, AliasNotFoundError, "staging"),
        ({"shadow": ["v7"]}, ModelVersionNotFoundError, "no version 7"),
        ({"traffic": "champion=0"}, ValidationError, "traffic.0.weight"),
        ({"traffic": "champion=-1,challenger=1"}, ValidationError, "traffic.0.weight"),
        ({"traffic": "champion=0.5,champion=0.5"}, ValidationError, "more than once"),
        ({"traffic": "v2=0.5,2=0.5"}, ValidationError, "more than once"),
        ({"traffic": []}, ValidationError, "at least one route"),
        ({"shadow": ["champion"]}, ValidationError, "already in traffic"),
        ({"sticky": "cookie:session"}, ValidationError, "sticky.source"),
        ({"sticky": "user-id"}, ValidationError, "header:NAME"),
        ({"batching": {"max_batch_size": 128, "max_queue_rows": 64}}, ValidationError, "queue"),
        ({"cache": {"ttl_s": 0}}, ValidationError, "cache.ttl_s"),
        ({"name": "renamed"}, ValidationError, "cannot change name"),
        ({"feature_service": "nope"}, FeatureNotFoundError, "no feature service"),
        ({"feature_service": "not-a-name"}, ValidationError, "feature_service"),
    ],
)
def test_an_invalid_update_changes_nothing(
    store: DeploymentStore, changes: dict[str, Any], error: type[ModelyardError], needle: str
) -> None:
    before = store.create(_spec())
    with pytest.raises(error, match=needle):
        store.update("fraud-api", **changes)
    assert store.get("fraud-api") == before


def test_a_missing_deployment_error_lists_the_existing_ones(store: DeploymentStore) -> None:
    store.create(_spec(name="a"))
    store.create(_spec(name="b"))
    with pytest.raises(DeploymentNotFoundError, match=r"'nope' does not exist \(deployments: a, b"):
        store.update("nope", description="x")


def test_delete_removes_the_deployment(store: DeploymentStore) -> None:
    store.create(_spec())
    store.delete("fraud-api")
    assert store.list() == []
    with pytest.raises(DeploymentNotFoundError):
        store.delete("fraud-api")


def test_reported_statuses_come_back_newest_first(store: DeploymentStore) -> None:
    store.create(_spec())
    now = now_ms()
    failed = TargetStatus("champion", 2, TargetState.FAILED, "digest mismatch", 1)
    store.report_status(_status("server-a", now - 1000, TargetStatus("champion", 2, "serving")))
    store.report_status(_status("server-b", now, failed))
    statuses = store.statuses("fraud-api")
    assert [s.server_id for s in statuses] == ["server-b", "server-a"]
    assert statuses[0].targets == (failed,)
    assert statuses[1].targets[0].state == "serving"


def test_a_new_report_replaces_the_servers_previous_one(store: DeploymentStore) -> None:
    store.create(_spec())
    now = now_ms()
    store.report_status(_status("s", now - 10, TargetStatus("champion", 2, "loading")))
    store.report_status(_status("s", now, TargetStatus("champion", 2, "serving", None, 2)))
    (status,) = store.statuses("fraud-api")
    assert status.updated_at == now
    assert status.targets[0].state == TargetState.SERVING


def test_stale_statuses_are_left_out(store: DeploymentStore) -> None:
    store.create(_spec())
    store.report_status(_status("gone", now_ms() - 120_000))
    assert store.statuses("fraud-api") == []
    assert [s.server_id for s in store.statuses("fraud-api", stale_after_s=0)] == ["gone"]


def test_a_status_for_a_missing_deployment_is_refused(store: DeploymentStore) -> None:
    with pytest.raises(DeploymentNotFoundError):
        store.report_status(_status("s", now_ms()))


def test_deleting_a_deployment_forgets_its_statuses(store: DeploymentStore) -> None:
    store.create(_spec())
    store.report_status(_status("s", now_ms()))
    store.delete("fraud-api")
    store.create(_spec())
    assert store.statuses("fraud-api", stale_after_s=0) == []


_FILE = """
[deployments.fraud-api]
model = "fraud"
traffic = "champion=0.9,challenger=0.1"
sticky = "header:x-user-id"

[deployments.fraud-api.batching]
max_batch_size = 128

[deployments.canary]
model = "fraud"
traffic = [{target = "champion", weight = 0.95}, {target = "v3", weight = 0.05}]
shadow = ["v1"]
"""


def test_apply_file_creates_then_reports_unchanged(store: DeploymentStore, tmp_path: Path) -> None:
    path = tmp_path / "deployments.toml"
    path.write_text(_FILE)
    assert store.apply_file(path) == [("fraud-api", "created"), ("canary", "created")]
    assert store.get("fraud-api").spec.batching.max_batch_size == 128
    assert [r.weight for r in store.get("canary").spec.traffic] == [0.95, 0.05]
    assert store.apply_file(path) == [("fraud-api", "unchanged"), ("canary", "unchanged")]
    assert store.revisions() == {"fraud-api": 1, "canary": 1}


def test_apply_file_updates_changed_deployments(store: DeploymentStore, tmp_path: Path) -> None:
    path = tmp_path / "deployments.toml"
    path.write_text(_FILE)
    store.apply_file(path)
    path.write_text(_FILE.replace("max_batch_size = 128", "max_batch_size = 256"))
    assert store.apply_file(path) == [("fraud-api", "updated"), ("canary", "unchanged")]
    assert store.get("fraud-api").revision == 2


def test_apply_file_with_one_unresolvable_target_writes_nothing(
    store: DeploymentStore, tmp_path: Path
) -> None:
    path = tmp_path / "deployments.toml"
    path.write_text(_FILE.replace('"v3"', '"v9"'))
    with pytest.raises(ModelVersionNotFoundError) as info:
        store.apply_file(path)
    assert info.value.details["deployment"] == "canary"
    assert store.list() == []


def test_apply_file_lists_every_invalid_field_and_writes_nothing(
    store: DeploymentStore, tmp_path: Path
) -> None:
    path = tmp_path / "deployments.toml"
    bad = _FILE.replace("max_batch_size = 128", "max_batch_size = 0").replace("0.05", "-1")
    path.write_text(bad + '\n[deployments.typo]\nmodel = "fraud"\ntrafic = "champion=1"\n')
    with pytest.raises(ValidationError) as info:
        store.apply_file(path)
    fields = [e["field"] for e in info.value.details["errors"]]
    assert fields == [
        "deployments.fraud-api.batching.max_batch_size",
        "deployments.canary.traffic.1.weight",
        "deployments.typo.trafic",
    ]
    assert store.list() == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[deployments.a\nmodel = 1", "not valid TOML"),
        ('[models.a]\nmodel = "fraud"', "only [deployments.NAME] tables"),
        ('[deployments.a]\nname = "b"\nmodel = "fraud"', "deployments.a.name"),
    ],
)
def test_apply_file_refuses_a_malformed_file(
    store: DeploymentStore, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "deployments.toml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=re.escape(needle)):
        store.apply_file(path)


def test_apply_file_of_a_missing_file_is_a_clear_error(
    store: DeploymentStore, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="cannot read deployments file"):
        store.apply_file(tmp_path / "nope.toml")
