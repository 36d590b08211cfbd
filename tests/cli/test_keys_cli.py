"""``modelyard keys ...`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from clikit import Result, modelyard
from modelyard import Workspace
from modelyard.errors import AuthenticationError


def run(workspace: Workspace, db_url: str, *args: str) -> Result:
    env = {"MODELYARD_METADATA_URL": db_url}
    return modelyard("-w", str(workspace.path), "keys", *args, env=env)


def test_create_prints_the_key_alone_on_stdout_and_warns(workspace: Workspace, db_url: str) -> None:
    result = run(workspace, db_url, "create", "checkout", "--scope", "predict")
    assert result.returncode == 0, result.stderr
    plaintext = result.stdout.strip()
    assert workspace.keys.verify(plaintext).name == "checkout"
    assert "shown only once" in result.stderr


def test_create_json_holds_the_key_and_list_never_does(workspace: Workspace, db_url: str) -> None:
    created = json.loads(
        run(workspace, db_url, "create", "ops", "-s", "admin", "-s", "predict", "--json").stdout
    )
    assert created["scopes"] == ["admin", "predict"]
    listed = run(workspace, db_url, "list", "--json").stdout
    assert [k["id"] for k in json.loads(listed)] == [created["id"]]
    assert created["key"] not in listed


def test_revoke_makes_the_key_fail(workspace: Workspace, db_url: str) -> None:
    key, plaintext = workspace.keys.create("ci", ["predict"])
    result = run(workspace, db_url, "revoke", key.id)
    assert result.returncode == 0, result.stderr
    assert key.prefix in result.stdout
    with pytest.raises(AuthenticationError):
        workspace.keys.verify(plaintext)
    (listed,) = json.loads(run(workspace, db_url, "list", "--json").stdout)
    assert listed["active"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["create", "ci", "--scope", "root"], "unknown scope 'root': use predict, admin"),
        (["revoke", "deadbeef"], "API key 'deadbeef' does not exist"),
    ],
)
def test_errors_are_one_line(
    workspace: Workspace, db_url: str, args: list[str], needle: str
) -> None:
    result = run(workspace, db_url, *args)
    assert result.returncode == 1
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
