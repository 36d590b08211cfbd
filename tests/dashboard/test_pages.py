"""Every page in headless Chromium, served by a real ``modelyard serve --ui`` after the
quickstart: it loads without console errors, its charts are drawn, search filters runs,
and a screenshot of it is saved under ``test-artifacts/dashboard/``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dashboard.kit import RECORD, Tab, chromium, require_chromium, wait_until
from modelyard import Workspace
from modelyard.access import Scope
from modelyard.dashboard import create_dashboard
from serving.http_server import Server, free_port, launch, wait_ready


@pytest.fixture(scope="module")
def server(quickstart_path: Path) -> Iterator[Server]:
    require_chromium()
    running = wait_ready(launch(quickstart_path, "--ui"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Any, server: Server, pytestconfig: pytest.Config) -> Iterator[Tab]:
    opened = Tab(browser, f"{server.url}/ui/", pytestconfig)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def ids(quickstart_path: Path) -> dict[str, str]:
    with Workspace.open(quickstart_path) as ws:
        first = ws.registry.get_version("fraud", 1)
        assert first.run_id is not None
        boosted = ws.tracking.search_runs(filter="name = 'hist_gradient_boosting'").runs[0]
        return {
            "trained_v1": first.run_id,
            "boosted": boosted.id,  # it logs a validation loss curve
            "pipeline_run": ws.pipelines.runs("transactions")[0].id,
        }


PAGES = [
    # name, fragment, text that shows it rendered, charts it draws at least
    ("runs", "/runs", "Comparison of", 4),
    ("run", "/runs/{boosted}", "registered as", 2),
    ("models", "/models", "champion → v", 0),
    ("model", "/models/fraud", "Lineage of models:/fraud/1", 3),
    ("deployments", "/deployments", "servers ready", 0),
    ("data", "/data", "Feature views", 0),
    ("dataset", "/data/datasets/transactions", "Check report", 3),
    ("pipeline", "/data/pipelines/transactions", "Steps and loads", 0),
    ("pipeline-run", "/data/pipeline-runs/{pipeline_run}", "Checks of transactions", 0),
]


@pytest.mark.parametrize(("name", "fragment", "marker", "charts"), PAGES)
def test_each_page_loads_draws_and_has_no_console_errors(
    tab: Tab, ids: dict[str, str], name: str, fragment: str, marker: str, charts: int
) -> None:
    tab.open(fragment.format(**ids))
    tab.page.get_by_text(marker, exact=False).first.wait_for(timeout=15_000)
    if charts:
        sizes = tab.wait_charts(charts)
        assert all(s["width"] > 100 and s["height"] > 100 for s in sizes), sizes
    tab.page.wait_for_load_state("networkidle")  # nothing left to fail
    tab.screenshot(name)
    assert tab.errors == []


def test_search_filters_runs_and_a_bad_filter_says_why(tab: Tab) -> None:
    tab.open("/runs")
    rows = tab.page.locator(".runs-table tbody tr")
    rows.first.wait_for()
    before = rows.count()
    assert before >= 2
    tab.page.fill("input[name=filter]", "params.model = 'logistic_regression'")
    tab.page.click("button[type=submit]")
    wait_until(lambda: 0 < rows.count() < before)
    assert all("logistic_regression" in row for row in rows.all_inner_texts())
    assert "filter=params.model" in tab.page.url  # the search is in the address, to share
    tab.page.fill("input[name=filter]", "metrics.roc_auc >")
    tab.page.click("button[type=submit]")
    alert = tab.page.locator(".card .error[role=alert]")
    alert.wait_for()
    assert "invalid filter at position 17" in alert.inner_text()
    assert tab.page.locator("input[name=filter].invalid").count() == 1
    tab.screenshot("runs-bad-filter")
    # the browser reports the 422 answer itself as a console error: the only one expected
    assert all("422" in e for e in tab.errors), tab.errors


def test_selected_runs_are_charted_and_compared(tab: Tab) -> None:
    tab.open("/runs?sel=")  # nothing selected: no chart, no comparison
    tab.page.get_by_text("Select runs in the table").wait_for()
    boxes = tab.page.locator(".runs-table input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    tab.page.get_by_text("Comparison of 2 runs").wait_for()
    tab.wait_charts(4)
    differing = tab.page.locator("tr.differs").all_inner_texts()
    assert any("params.model" in row for row in differing)
    assert tab.errors == []


def test_the_lineage_graph_leads_to_the_training_run(tab: Tab, ids: dict[str, str]) -> None:
    tab.open("/models/fraud/1")
    tab.wait_charts(3)
    assert tab.page.locator("details summary").first.inner_text().endswith("with their sha256")
    box = tab.page.locator(".chart.lineage")
    where = box.evaluate(
        """(element) => {
            const chart = element.__chart;
            const node = chart.getOption().series[0].data.find(
                (d) => d.node.kind === "training_run");
            return chart.convertToPixel({seriesIndex: 0}, [node.x, node.y]);
        }"""
    )
    box.click(position={"x": where[0], "y": where[1]})
    tab.page.wait_for_url(f"**#/runs/{ids['trained_v1']}")
    tab.page.get_by_text("registered as").wait_for()
    assert tab.errors == []


def test_live_server_metrics_of_a_deployment(tab: Tab, server: Server) -> None:
    live_url = f"{server.url}/ui/api/deployments/fraud/live"
    httpx.get(live_url, timeout=10)  # a first snapshot
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(20):
            answer = client.post("/v1/deployments/fraud/predict", json={"records": [RECORD]})
            assert answer.status_code == 200, answer.text
        client.post("/v1/deployments/fraud/predict", json={"records": [{"amount": "x"}]})
        time.sleep(1.1)
        live = client.get("/ui/api/deployments/fraud/live").json()
    assert live["available"] is True
    assert live["totals"]["requests"] >= 21
    assert live["totals"]["client_errors"] >= 1
    assert any(rate and rate > 0 for rate in live["series"]["rate"])
    assert any(p for p in live["series"]["p50_ms"])
    assert sum(live["batch_sizes"]["counts"]) >= 20
    assert live["readiness"]["ready"] is True
    tab.open("/deployments/fraud")
    tab.page.get_by_text("Live (this server)").wait_for()
    tab.wait_charts(6)  # the split, then rate, latency, errors, cache and batch sizes
    requests = tab.page.locator(".stat", has_text="requests").locator("b")
    wait_until(lambda: int(requests.inner_text().replace(",", "")) >= 21)
    tab.screenshot("deployment-live")
    assert tab.errors == []


def test_the_page_asks_for_an_admin_key_when_auth_is_on(
    browser: Any, quickstart_path: Path, pytestconfig: pytest.Config
) -> None:
    with Workspace.open(quickstart_path) as ws:
        _, admin = ws.keys.create("browser-admin", [Scope.ADMIN])
        _, predict = ws.keys.create("browser-predict", [Scope.PREDICT])
        port = free_port()
        config = uvicorn.Config(
            create_dashboard(ws, auth=True), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: server.started)
            tab = Tab(browser, f"http://127.0.0.1:{port}/ui/", pytestconfig)
            tab.open("/models")
            form = tab.page.locator("form.keyform")
            form.wait_for()
            tab.page.fill("input[name=api-key]", predict)
            tab.page.click("form.keyform button")
            tab.page.get_by_text("lacks the 'admin' scope", exact=False).wait_for()
            tab.screenshot("api-key-form")
            tab.page.fill("input[name=api-key]", admin)
            tab.page.click("form.keyform button")
            tab.page.get_by_text("champion → v").first.wait_for()
            assert tab.page.locator("#key-button").is_visible()  # to forget the key
            assert all(" 401 " in e or " 403 " in e for e in tab.errors), tab.errors
            tab.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
