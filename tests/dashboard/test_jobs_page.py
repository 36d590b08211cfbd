"""The jobs page in headless Chromium, and its API: jobs per state as a chart, the table
filtered by status and kind, one job whole, and paging.

The queue is filled once, by hand through ``ws.jobs`` (claimed, succeeded, failed,
cancelled; no worker runs), in a workspace with two scheduled pipelines. The dashboard
runs in a thread of this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from dashboard.kit import Tab, chromium, require_chromium, wait_until
from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.dashboard import create_dashboard
from modelyard.errors import ValidationError
from modelyard.jobs import JobStatus
from serving.http_server import free_port

PIPELINES = """\
from modelyard.data import Pipeline, csv_source

hourly = Pipeline("transactions", schedule="0 * * * *")
hourly.source("raw", csv_source("raw/*.csv"))
hourly.load("transactions", "raw")

often = Pipeline("refresh", schedule="15m")
often.source("raw", csv_source("raw/*.csv"))
often.load("refresh", "raw")
"""


def fill(ws: Workspace) -> dict[str, str]:
    """Jobs in every state; the ids of a few, by what they show."""
    queue = ws.jobs
    days = [f"2024-06-{d:02d}" for d in range(1, 13)]
    for day in days:
        queue.enqueue("pipeline", {"pipeline": "transactions", "logical_date": day}, key=day)
    broken = queue.enqueue("pipeline", {"pipeline": "nope"}, priority=9)
    flaky = queue.enqueue("materialize", {"views": ["user_stats"]}, priority=8, max_attempts=1)
    slow = queue.enqueue("materialize", {}, priority=7)
    retried = queue.enqueue("pipeline", {"pipeline": "refresh"}, priority=6, max_attempts=3)
    cancelled = queue.enqueue("pipeline", {"pipeline": "refresh", "full_refresh": True})
    queue.cancel(cancelled.id)
    claimed = {job.id: job for job in queue.claim("test-worker", limit=8)}
    queue.fail(claimed[broken.id], ValidationError("pipeline 'nope' is not defined"))
    queue.fail(claimed[flaky.id], RuntimeError("the online store went away"))
    queue.fail(claimed[retried.id], ConnectionError("source database unreachable"))
    queue.heartbeat("test-worker", {slow.id: {"stage": "write", "done": 3, "total": 8}})
    for job in claimed.values():
        if job.kind == "pipeline" and job.payload["pipeline"] == "transactions":
            queue.succeed(job, {"run_id": f"run-{job.payload['logical_date']}", "rows": 120})
    return {"broken": broken.id, "slow": slow.id, "retried": retried.id}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    path = tmp_path_factory.mktemp("jobs") / "ws"
    (path / "pipelines").mkdir(parents=True)
    (path / "pipelines" / "tx.py").write_text(PIPELINES)
    ws = Workspace(load_settings(path))
    ws.start()
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def ids(workspace: Workspace) -> dict[str, str]:
    return fill(workspace)


@pytest.fixture(scope="module")
def base(workspace: Workspace, ids: dict[str, str]) -> Iterator[str]:
    """The dashboard of ``workspace`` served by uvicorn in a thread: its base URL."""
    require_chromium()
    port = free_port()
    config = uvicorn.Config(
        create_dashboard(workspace), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Any, base: str, pytestconfig: pytest.Config) -> Iterator[Tab]:
    opened = Tab(browser, f"{base}/ui/", pytestconfig)
    yield opened
    opened.close()


def test_the_states_are_charted_and_the_table_filters(tab: Tab, workspace: Workspace) -> None:
    counts = workspace.jobs.counts()
    assert counts[JobStatus.FAILED] == 1 and counts[JobStatus.DEAD] == 1
    tab.open("/jobs")
    rows = tab.page.locator(".card tbody tr.clickable")
    rows.first.wait_for(timeout=15_000)
    (size,) = tab.wait_charts(1)
    assert size["width"] > 100 and size["height"] > 100
    bars = tab.page.locator(".chart").evaluate(
        "(e) => e.__chart.getOption().series[0].data.map((d) => d.value)"
    )
    assert bars == [counts[s] for s in JobStatus]
    assert rows.count() == sum(counts.values())
    assert tab.page.get_by_text("every interval from a worker's start").count() == 1  # 15m
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("jobs")
    tab.page.select_option("select[name=status]", "FAILED")
    tab.page.wait_for_url("**status=FAILED")
    wait_until(lambda: rows.count() == 1)
    assert "pipeline 'nope' is not defined" in rows.first.inner_text()
    tab.page.select_option("select[name=status]", "")
    wait_until(lambda: rows.count() == sum(counts.values()))
    tab.page.select_option("select[name=kind]", "materialize")
    tab.page.wait_for_url("**kind=materialize")
    wait_until(lambda: rows.count() == 2)
    assert all("materialize" in text for text in rows.all_inner_texts())
    assert "write 3/8" in rows.all_inner_texts()[0] + rows.all_inner_texts()[1]
    tab.screenshot("jobs-materialize")
    assert tab.errors == []


def test_a_job_shows_payload_result_error_and_attempts(tab: Tab, ids: dict[str, str]) -> None:
    tab.open("/jobs?status=QUEUED")
    retried = tab.page.locator("tbody tr", has_text="QUEUED (retry)")
    retried.wait_for(timeout=15_000)
    retried.locator("a").first.click()
    tab.page.wait_for_url(f"**#/jobs/{ids['retried']}")
    tab.page.get_by_text("Error of the last attempt").wait_for()
    text = tab.page.locator("main").inner_text()
    assert "source database unreachable" in text
    assert "1 of 3" in text  # attempts
    assert '"pipeline": "refresh"' in text  # the payload
    tab.page.locator("details summary", has_text="traceback").click()
    assert "ConnectionError" in tab.page.locator("details pre").inner_text()
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("job")
    assert tab.errors == []


def test_jobs_are_read_one_page_at_a_time(base: str, workspace: Workspace) -> None:
    with httpx.Client(base_url=f"{base}/ui/api/", timeout=30) as client:
        first = client.get("jobs", params={"limit": 5}).json()
        everything = client.get("jobs", params={"limit": 500}).json()
        succeeded = client.get("jobs", params={"status": "succeeded"}).json()
        summary = client.get("jobs/summary").json()
    assert len(first["jobs"]) == 5 and first["more"] is True
    assert [j["id"] for j in everything["jobs"][:5]] == [j["id"] for j in first["jobs"]]
    assert everything["more"] is False
    assert {j["status"] for j in succeeded["jobs"]} == {"SUCCEEDED"}
    assert summary["counts"] == {str(s): n for s, n in workspace.jobs.counts().items()}
    assert {k["name"] for k in summary["kinds"]} >= {"pipeline", "materialize", "batch_predict"}
    schedules = {s["pipeline"]: s for s in summary["schedules"]}
    assert schedules["refresh"]["next_fire"] is None  # an interval: only workers know
    assert schedules["transactions"]["next_fire"] % 3_600_000 == 0  # on the hour


def test_one_job_whole(base: str, ids: dict[str, str]) -> None:
    answer = httpx.get(f"{base}/ui/api/jobs/{ids['slow'][:10]}", timeout=30)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["id"] == ids["slow"]
    assert job["status"] == "RUNNING"
    assert job["progress"] == {"stage": "write", "done": 3, "total": 8}
    assert job["lease_owner"] == "test-worker"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("jobs?status=sleeping", 422),
        ("jobs?limit=0", 422),
        ("jobs?limit=100000", 422),
        ("jobs/abc", 404),
        ("jobs/" + "0" * 32, 404),
    ],
)
def test_bad_parameters_are_4xx(base: str, path: str, status: int) -> None:
    answer = httpx.get(f"{base}/ui/api/{path}", timeout=30)
    assert answer.status_code == status, answer.text
    assert set(answer.json()["error"]) == {"code", "message", "details"}
