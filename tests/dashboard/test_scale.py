"""The runs page over 10,000 runs of 100 metric steps each, served by ``modelyard ui``.

First paint is measured and printed, not asserted (machines differ): the time from
navigation to the runs table on screen (the page's ``runs-table`` performance mark), the
browser's first contentful paint, and the time until the charts of the selected runs are
drawn. The search API is timed too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.kit import Tab, add_runs, chromium, require_chromium, shout
from modelyard._workspace import init_workspace
from serving.http_server import free_port

RUNS, STEPS = 10_000, 100


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``modelyard ui`` over a workspace of RUNS runs; its URL."""
    require_chromium()
    folder = tmp_path_factory.mktemp("scale") / "ws"
    ws, _ = init_workspace(folder)
    with ws:
        add_runs(ws, RUNS, STEPS)
    port = free_port()
    log = folder / "ui.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    command = [sys.executable, "-m", "modelyard.cli", "-w", str(folder), "ui", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environ)
    url = f"http://127.0.0.1:{port}/ui/"
    try:
        _wait(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"modelyard ui exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}api/info", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"modelyard ui did not start:\n{log.read_text()}")


def test_search_api_queries_one_page(dashboard: str, pytestconfig: pytest.Config) -> None:
    with httpx.Client(base_url=f"{dashboard}api/", timeout=30) as client:
        params: dict[str, Any] = {
            "filter": "metrics.auc > 0.9 and params.lr = '0.1'",
            "order_by": "metrics.auc DESC",
        }
        client.get("runs", params=params)  # compiles the statement once
        started = time.perf_counter()
        page = client.get("runs").json()
        plain = time.perf_counter() - started
        started = time.perf_counter()
        found = client.get("runs", params=params).json()
        filtered = time.perf_counter() - started
        ids = [r["id"] for r in page["runs"][:5]]
        started = time.perf_counter()
        series = client.get("runs/metrics", params={"run": ids, "key": ["loss"]}).json()
        charted = time.perf_counter() - started
    assert len(page["runs"]) == 50 and page["next_page_token"]
    aucs = [r["metrics"]["auc"] for r in found["runs"]]
    assert aucs == sorted(aucs, reverse=True) and min(aucs) > 0.9
    assert [len(s["steps"]) for s in series["series"]] == [STEPS] * 5
    shout(
        pytestconfig,
        f"runs API over {RUNS:,} runs: first page {plain * 1000:.0f} ms, filtered and "
        f"ordered {filtered * 1000:.0f} ms, 5 series of {STEPS} steps {charted * 1000:.0f} ms",
    )


def test_first_paint_of_the_runs_page(dashboard: str, pytestconfig: pytest.Config) -> None:
    with chromium() as browser:
        tab = Tab(browser, dashboard, pytestconfig)
        figures = []
        for attempt in range(3):  # the first load is cold (no cache, statements compiled)
            started = time.perf_counter()
            tab.open("/runs")
            tab.page.wait_for_function("performance.getEntriesByName('runs-table').length > 0")
            table_ms, paint_ms = tab.page.evaluate(
                """() => [
                    performance.getEntriesByName('runs-table')[0].startTime,
                    (performance.getEntriesByType('paint')
                        .find((e) => e.name === 'first-contentful-paint') || {}).startTime,
                ]"""
            )
            tab.wait_charts(2)
            charts_ms = (time.perf_counter() - started) * 1000
            figures.append((table_ms, paint_ms, charts_ms))
            assert tab.page.locator(".runs-table tbody tr").count() == 50
            if attempt == 0:
                tab.screenshot("runs-10k")
        assert tab.errors == []
        tab.close()
    for label, (table_ms, paint_ms, charts_ms) in zip(
        ("cold", "warm", "warm"), figures, strict=True
    ):
        shout(
            pytestconfig,
            f"runs page over {RUNS:,} runs x {STEPS} steps ({label}): table on screen "
            f"{table_ms:.0f} ms, first contentful paint {paint_ms:.0f} ms, "
            f"charts of 5 runs drawn {charts_ms:.0f} ms",
        )
