"""``modelyard jobs ...`` and ``modelyard worker``, run in this process with Typer's runner."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from modelyard import Workspace
from modelyard.cli import app
from modelyard.jobs import JobStatus


@pytest.fixture
def cli(sqlite_ws: Workspace) -> Any:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["-w", str(sqlite_ws.path), *args])

    return run


def ok_json(cli: Any, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    return str(result.stderr.strip())


def test_enqueue_list_and_show_as_json(cli: Any, sqlite_ws: Workspace) -> None:
    job = ok_json(cli, "jobs", "enqueue", "noop", "--payload", '{"n": 3}', "--key", "k")
    again = ok_json(cli, "jobs", "enqueue", "noop", "--payload", '{"n": 3}', "--key", "k")
    other = sqlite_ws.jobs.enqueue("record", {"file": "x"}, priority=5)
    sqlite_ws.jobs.cancel(other.id)

    listed = ok_json(cli, "jobs", "list")
    queued = ok_json(cli, "jobs", "list", "--status", "queued")
    shown = ok_json(cli, "jobs", "show", job["id"][:10])

    assert again["id"] == job["id"] and job["status"] == "QUEUED"
    assert [j["id"] for j in listed] == [other.id, job["id"]]
    assert [j["id"] for j in queued] == [job["id"]]
    assert shown["payload"] == {"n": 3} and shown["idempotency_key"] == "k"
    assert shown["attempts"] == 0 and shown["max_attempts"] == 3


def test_cancel_and_retry_as_json_and_their_conflicts_as_one_line(
    cli: Any, sqlite_ws: Workspace
) -> None:
    job = sqlite_ws.jobs.enqueue("noop", {})

    cancelled = ok_json(cli, "jobs", "cancel", job.id)
    twice = cli("jobs", "cancel", job.id)
    retried = ok_json(cli, "jobs", "retry", job.id)
    early = cli("jobs", "retry", job.id)

    assert cancelled["status"] == "CANCELLED"
    assert one_line_error(twice) == (
        f"Error: job {job.id} is CANCELLED; only QUEUED, RUNNING jobs can be cancelled"
    )
    assert retried["status"] == "QUEUED"
    assert "only FAILED, DEAD, CANCELLED jobs can be retried" in one_line_error(early)
    assert sqlite_ws.jobs.get(job.id).status == JobStatus.QUEUED


def test_bad_input_is_one_line_and_changes_nothing(cli: Any, sqlite_ws: Workspace) -> None:
    assert one_line_error(cli("jobs", "show", "deadbeef")) == "Error: job 'deadbeef' does not exist"
    unknown = one_line_error(cli("jobs", "enqueue", "no_such_kind"))
    assert "job kind 'no_such_kind' is not registered (kinds: automate, batch_predict" in unknown
    assert "--payload is not JSON" in one_line_error(
        cli("jobs", "enqueue", "noop", "--payload", "{nope")
    )
    assert "bad payload for job kind 'pipeline'" in one_line_error(
        cli("jobs", "enqueue", "pipeline", "--payload", "[1]")
    )
    assert "not one of queued" in one_line_error(cli("jobs", "list", "--status", "sleeping"))
    assert sqlite_ws.jobs.list() == []


def test_worker_drains_the_queue_and_tables_show_the_outcome(
    cli: Any, sqlite_ws: Workspace
) -> None:
    sqlite_ws.jobs.enqueue("noop", {"n": 1})
    sqlite_ws.jobs.enqueue("reject", {})

    worked = cli("worker", "--concurrency", "2", "--drain")
    table = cli("jobs", "list")

    assert worked.exit_code == 0, worked.output
    assert "stopped: 1 failed, 1 succeeded" in worked.stderr
    assert "SUCCEEDED" in table.stdout and "this job's input is wrong" in table.stdout
    assert "1 succeeded, 1 failed" in table.stdout
