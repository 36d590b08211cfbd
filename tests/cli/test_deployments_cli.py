"""``modelyard deployments ...`` run as a real process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sklearn.dummy import DummyClassifier

from clikit import Result, modelyard
from modelyard import Workspace
from modelyard._ids import now_ms
from modelyard.deployments import DeploymentSpec, DeploymentStatus, TargetStatus


class Cli:
    """Runs ``modelyard`` against the test's workspace and database."""

    def __init__(self, workspace: Workspace, db_url: str) -> None:
        self.workspace = workspace
        self.env = {"MODELYARD_METADATA_URL": db_url}

    def __call__(self, *args: str) -> Result:
        return modelyard("-w", str(self.workspace.path), *args, env=self.env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(workspace: Workspace, db_url: str) -> Cli:
    """Model ``fraud`` with versions 1-3, champion -> 2, challenger -> 3."""
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for _ in range(3):
        workspace.registry.register("fraud", model)
    workspace.registry.set_alias("fraud", "champion", 2)
    workspace.registry.set_alias("fraud", "challenger", 3)
    return Cli(workspace, db_url)


def test_create_stores_every_option(cli: Cli) -> None:
    created = cli.json(
        *("deployments", "create", "fraud-api", "--model", "fraud"),
        *("--traffic", "champion=0.9,challenger=0.1", "--shadow", "v1", "--sticky", "header:X-U"),
        *("--max-batch-size", "128", "--max-wait-ms", "5", "--max-queue-rows", "1024"),
        *("--cache", "--cache-ttl", "60", "--description", "fraud scoring"),
    )
    assert created["revision"] == 1
    spec = DeploymentSpec(**created["spec"])
    assert spec == cli.workspace.deployments.get("fraud-api").spec
    assert [(r.target, r.weight) for r in spec.traffic] == [("champion", 0.9), ("challenger", 0.1)]
    assert spec.shadow == ("v1",) and str(spec.sticky) == "header:x-u"
    assert (spec.batching.max_batch_size, spec.batching.max_wait_ms) == (128, 5.0)
    assert spec.cache.enabled and spec.cache.ttl_s == 60.0
    assert spec.description == "fraud scoring"


def test_update_changes_only_the_given_options(cli: Cli) -> None:
    cli.workspace.deployments.create(
        DeploymentSpec(
            name="d", model="fraud", batching={"max_batch_size": 128}, cache={"enabled": True}
        )
    )
    updated = cli.json("deployments", "update", "d", "--max-wait-ms", "7", "-t", "v3=1")
    assert updated["revision"] == 2
    spec = cli.workspace.deployments.get("d").spec
    assert [r.target for r in spec.traffic] == ["v3"]
    assert (spec.batching.max_batch_size, spec.batching.max_wait_ms) == (128, 7.0)
    assert spec.cache.enabled


def test_show_explains_a_target_that_failed_to_load(cli: Cli) -> None:
    store = cli.workspace.deployments
    store.create(DeploymentSpec(name="d", model="fraud"))
    failed = TargetStatus("champion", 2, "failed", "artifact sha256:ab failed verification", 1)
    store.report_status(DeploymentStatus("d", "host-1", True, (failed,), now_ms()))
    shown = cli("deployments", "show", "d")
    assert shown.returncode == 0, shown.stderr
    assert "host-1" in shown.stdout and "failed" in shown.stdout
    assert "failed verification" in shown.stdout
    (status,) = cli.json("deployments", "show", "d")["statuses"]
    assert status["targets"][0] == failed.to_dict()


def test_list_and_delete(cli: Cli) -> None:
    cli.workspace.deployments.create(DeploymentSpec(name="b", model="fraud"))
    cli.workspace.deployments.create(
        DeploymentSpec(name="a", model="fraud", traffic="champion=3,challenger=1")
    )
    assert [d["name"] for d in cli.json("deployments", "list")] == ["a", "b"]
    table = cli("deployments", "list").stdout
    assert "champion 75%, challenger 25%" in table
    assert cli("deployments", "delete", "a").returncode == 0
    assert [d.name for d in cli.workspace.deployments.list()] == ["b"]


def test_apply_reads_deployments_toml_in_the_workspace(cli: Cli) -> None:
    (cli.workspace.path / "deployments.toml").write_text(
        '[deployments.a]\nmodel = "fraud"\ntraffic = "champion=0.5,v3=0.5"\n'
    )
    assert cli.json("deployments", "apply") == [{"name": "a", "action": "created"}]
    again = cli("deployments", "apply")
    assert again.returncode == 0 and "unchanged" in again.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["create", "d", "-m", "nope"], "'nope' is not registered"),
        (["create", "d", "-m", "fraud", "-t", "staging=1"], "no alias 'staging'"),
        (["create", "d", "-m", "fraud", "-t", "champion=0"], "traffic.0.weight"),
        (["create", "d", "-m", "fraud", "--sticky", "cookie"], "header:NAME"),
        (["update", "nope", "--cache"], "deployment 'nope' does not exist"),
        (["apply", "missing.toml"], "cannot read deployments file"),
    ],
)
def test_errors_are_one_line_and_change_nothing(cli: Cli, args: list[str], needle: str) -> None:
    result = cli("deployments", *args)
    assert result.returncode == 1
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli.workspace.deployments.list() == []
