"""The monitoring page in headless Chromium, and its API: drift per feature, performance
per version with interval bands, health, and alerts acknowledged with a click.

The workspace is built once, without the quickstart: two versions of a classifier
deployed as ``scored`` (``monitorkit``) with a week of logged requests (the last hours'
inputs shifted), labels for them, a reference profile and three alert rules that fire
(one of them resolved since); and ``bare``, served a few requests with neither a
reference nor labels. The dashboard runs in a thread of this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from starlette.testclient import TestClient

from dashboard.kit import Tab, chromium, require_chromium, wait_until
from modelyard import Workspace
from modelyard._ids import now_ms, time_id
from modelyard.access import Scope
from modelyard.config import load_settings
from modelyard.dashboard import create_dashboard
from modelyard.monitoring import PREDICTION, AlertRule
from modelyard.serving import InputBatch
from modelyard.serving._predlog import LogEntry, PredictionLog, encode_record
from monitorkit import classifier, deploy, predict
from serving.http_server import free_port

HOUR = 3_600_000
COUNTRIES = ["US", "BR", "DE", "FR"]


def frame(rng: np.random.Generator, n: int, *, shifted: bool) -> pd.DataFrame:
    """Inputs as production sends them; ``shifted``: larger x and amounts, more BR."""
    shares = [0.3, 0.4, 0.2, 0.1] if shifted else [0.5, 0.2, 0.2, 0.1]
    return pd.DataFrame(
        {
            "x": rng.normal(0.9 if shifted else 0.0, 1.0, n),
            "amount": rng.lognormal(3.4 if shifted else 3.0, 0.5, n),
            "country": rng.choice(COUNTRIES, n, p=shares),
            "channel": rng.choice(["online", "store"], n, p=[0.6, 0.4]),
        }
    )


def log_history(ws: Workspace, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """A week of requests to ``scored``, every 2 hours and every 5 minutes in the last
    hour, 30 rows each: version 1 alone until 3 days ago, then one request to each version
    (an A/B split); the inputs shifted in the last 6 hours. The prediction ids with their
    labels (wrong for about 12% of v1's predictions and 6% of v2's)."""
    now = now_ms()
    times = [now - k * 2 * HOUR - 30 * 60_000 for k in range(84)]
    times += [now - k * 5 * 60_000 - 60_000 for k in range(12)]
    requests = [(at, 1) for at in times] + [(at + 1, 2) for at in times if at > now - 72 * HOUR]
    log = PredictionLog(ws.settings.resolved_predictions_dir(), "history", segment_rows=10**6)
    log.start()
    ids: list[str] = []
    labels: list[int] = []
    for at, version in sorted(requests):
        inputs = frame(rng, 30, shifted=at > now - 6 * HOUR)
        outputs = (inputs["x"].to_numpy() > 0).astype(np.int64)
        wrong = rng.random(30) < (0.12 if version == 1 else 0.06)
        request = time_id(at)
        entry = LogEntry(
            request_id=request,
            ids=[f"{request}-{j}" for j in range(30)],
            timestamp_ms=at,
            deployment="scored",
            model="scored",
            version=version,
            target="champion",
            shadow=False,
            latency_ms=float(rng.gamma(4.0, 1.5) + (6.0 if at > now - 6 * HOUR else 0.0)),
            server_id="history",
            batch=InputBatch(n_rows=30, columns={c: inputs[c].to_numpy() for c in inputs.columns}),
            outputs=outputs,
        )
        log.append(encode_record(entry), 30)
        ids += entry.ids
        labels += np.where(wrong, 1 - outputs, outputs).tolist()
    log.stop()
    return ids, labels


def build(ws: Workspace) -> None:
    rng = np.random.default_rng(11)
    deploy(ws, classifier(), "scored")
    deploy(ws, classifier(), "scored")  # v2 is the champion now
    deploy(ws, classifier(), "bare")
    predict(ws, "bare", [-1.0, 0.5, 2.0], [0.3] * 4)
    reference = frame(rng, 4000, shifted=False)
    reference[PREDICTION] = (reference["x"] > 0).astype(int)
    ws.monitoring.set_reference("models:/scored/2", reference)
    ids, labels = log_history(ws, rng)
    ws.monitoring.feedback.add_many(ids, labels)
    minute = now_ms() // 60_000 * 60_000
    ws.monitoring.record_errors(
        "history", {("scored", "champion", "internal_error", minute - k * HOUR): 3 for k in (1, 5)}
    )
    day: dict[str, Any] = {"deployment": "scored", "window_s": 86_400, "min_samples": 20}
    latency: dict[str, Any] = {**day, "metric": "latency_p95_ms", "comparison": ">"}
    accuracy = AlertRule("accuracy-low", metric="accuracy", comparison="<", threshold=0.97, **day)
    share = AlertRule("drift-share", metric="drift_share", comparison=">=", threshold=0.25, **day)
    ws.monitoring.add_rule(accuracy)
    ws.monitoring.add_rule(share)
    ws.monitoring.add_rule(AlertRule("latency-high", threshold=1.0, **latency))
    assert len(ws.monitoring.evaluate_alerts()) == 3
    relaxed = AlertRule("latency-high", threshold=1e9, **latency)
    ws.monitoring.add_rule(relaxed, replace=True)
    (resolved,) = ws.monitoring.evaluate_alerts()
    assert resolved.rule == "latency-high"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace(load_settings(tmp_path_factory.mktemp("monitoring") / "ws"))
    ws.start()
    build(ws)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def base(workspace: Workspace) -> Iterator[str]:
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
def browser(workspace: Workspace) -> Iterator[Any]:
    """Chromium, started after the workspace is built: Playwright's sync API runs an event
    loop in this thread, where the serving runtime of ``predict`` could not start."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Any, base: str, pytestconfig: pytest.Config) -> Iterator[Tab]:
    opened = Tab(browser, f"{base}/ui/", pytestconfig)
    yield opened
    opened.close()


def alert_of(base: str, rule: str) -> dict[str, Any]:
    """The alert of ``rule`` as the dashboard's API lists it."""
    answer = httpx.get(f"{base}/ui/api/monitoring/alerts", params={"status": "all"}, timeout=30)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = [a for a in answer.json()["alerts"] if a["rule"] == rule]
    assert len(found) == 1, found
    return found[0]


def test_a_deployment_shows_drift_performance_and_health(tab: Tab) -> None:
    tab.open("/monitoring/scored?window=1d")
    tab.page.get_by_text("Features, drifted first").wait_for(timeout=20_000)
    # scores, the prediction, 4 features; accuracy, precision, recall, f1; 3 of health
    sizes = tab.wait_charts(13, timeout_ms=20_000)
    assert all(s["width"] > 100 and s["height"] > 100 for s in sizes), sizes
    verdicts = tab.page.locator(".card", has_text="Features, drifted first").locator("tbody tr")
    rows = {row.split()[0]: row.split()[1] for row in verdicts.all_inner_texts()}
    assert list(rows.values()) == sorted(rows.values(), key=lambda v: v != "drifted")
    assert rows["x"] == "drifted" and rows["channel"] == "steady"
    assert (
        tab.page.locator("h2", has_text="prediction (model output)").locator(".pill").inner_text()
        == "drifted"
    )
    legend = (
        tab.page.locator(".chart").nth(6).evaluate("(e) => e.__chart.getOption().legend[0].data")
    )
    assert legend == ["v1", "v2", "all versions"]
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("monitoring-deployment")
    tab.page.click("button[data-window='7d']")
    tab.page.wait_for_url("**window=7d")
    tab.page.get_by_text("Drift over the last 7d").wait_for()
    tab.wait_charts(13, timeout_ms=20_000)
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("monitoring-deployment-7d")
    assert tab.errors == []


def test_no_reference_and_no_labels_are_said_plainly(tab: Tab) -> None:
    tab.open("/monitoring/bare")
    notices = tab.page.locator(".notice")
    notices.nth(1).wait_for(timeout=20_000)
    texts = notices.all_inner_texts()
    assert any("no drift reference" in t for t in texts), texts
    assert any("No prediction of this window has a label yet" in t for t in texts), texts
    tab.wait_charts(3)  # health: what was served
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("monitoring-no-reference")
    assert tab.page.locator(".error").count() == 0
    assert tab.errors == []


def test_an_alert_is_acknowledged_with_a_click(tab: Tab, base: str) -> None:
    assert alert_of(base, "accuracy-low")["status"] == "firing"
    tab.open("/monitoring")
    row = tab.page.locator("tr.alert-row", has_text="accuracy-low")
    row.wait_for(timeout=20_000)
    tab.screenshot("monitoring")
    row.get_by_role("button", name="Acknowledge").click()
    acknowledged = tab.page.locator("tr.alert-row.acknowledged", has_text="accuracy-low")
    acknowledged.wait_for()
    assert "by dashboard" in acknowledged.inner_text()
    tab.screenshot("monitoring-acknowledged")
    found = alert_of(base, "accuracy-low")
    assert found["status"] == "acknowledged"
    assert found["acknowledged_by"] == "dashboard"
    again = httpx.post(
        f"{base}/ui/api/monitoring/alerts/{found['id']}/acknowledge", json={}, timeout=30
    )
    assert again.status_code == 200  # acknowledging twice changes nothing
    assert again.json()["alert"]["acknowledged_at"] == found["acknowledged_at"]
    assert tab.errors == []


def error(response: httpx.Response | Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    return body


def test_acknowledging_what_cannot_be_is_a_4xx(base: str) -> None:
    ack = f"{base}/ui/api/monitoring/alerts/{{}}/acknowledge"
    resolved = alert_of(base, "latency-high")
    assert resolved["status"] == "resolved"
    with httpx.Client(timeout=30) as client:
        body = error(client.post(ack.format(resolved["id"]), json={}), 409)
        assert "resolved itself already" in body["message"]
        error(client.post(ack.format("0" * 32), json={}), 404)
        error(client.post(ack.format("not-an-alert"), json={}), 404)
        # a form from another site cannot send JSON: refused before anything changes
        before = alert_of(base, "drift-share")
        error(client.post(ack.format(before["id"]), data={"x": "1"}), 400)
        error(client.get(ack.format(before["id"])), 405)
    assert alert_of(base, "drift-share") == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("deployments/scored/drift?window=2d", 422),
        ("deployments/scored/health?window=", 200),
        ("deployments/nope/drift", 404),
        ("deployments/nope/performance", 404),
        ("deployments/nope/health", 404),
        ("alerts?status=sleeping", 422),
        ("alerts?limit=0", 422),
        ("alerts?limit=100000", 422),
        ("alerts?deployment=nope", 404),
    ],
)
def test_bad_parameters_are_4xx(base: str, path: str, status: int) -> None:
    answer = httpx.get(f"{base}/ui/api/monitoring/{path}", timeout=30)
    if status == 200:
        assert answer.status_code == 200, answer.text
    else:
        error(answer, status)


def test_the_api_answers_each_section(base: str) -> None:
    with httpx.Client(base_url=f"{base}/ui/api/monitoring/", timeout=30) as client:
        drift = client.get("deployments/scored/drift", params={"window": "1d"}).json()
        perf = client.get("deployments/scored/performance", params={"window": "7d"}).json()
        health = client.get("deployments/scored/health", params={"window": "1h"}).json()
        limited = client.get("alerts", params={"status": "all", "limit": 1}).json()
    assert drift["available"] is True
    drifted = [c["drifted"] for c in drift["columns"]]
    assert drifted == sorted(drifted, reverse=True)  # drifted first
    assert drift["prediction"]["drifted"] is True
    assert drift["columns"][0]["histogram"]["edges"] is not None
    assert next(c for c in drift["columns"] if c["column"] == "country")["histogram"]["labels"]
    assert perf["versions"] == [1, 2]
    assert perf["bucket_ms"] == 86_400_000
    assert {"accuracy", "f1"} <= set(perf["metrics"])
    accuracy = [w["metrics"]["accuracy"] for w in perf["windows"]]
    assert all(a["low"] <= a["value"] <= a["high"] for a in accuracy)
    assert len(health["windows"]) == 12
    assert health["summary"]["requests"] == 26  # every 5 minutes and one of every 2 hours, x2
    assert len(limited["alerts"]) == 1 and limited["more"] is True


def test_acknowledging_needs_an_admin_key_when_auth_is_on(workspace: Workspace) -> None:
    _, admin = workspace.keys.create("monitor-admin", [Scope.ADMIN])
    _, predict_only = workspace.keys.create("monitor-predict", [Scope.PREDICT])
    firing = next(
        a for a in workspace.monitoring.alerts.list(status="firing") if a.rule == "drift-share"
    )
    path = f"/ui/api/monitoring/alerts/{firing.id}/acknowledge"
    with TestClient(create_dashboard(workspace, auth=True)) as client:
        error(client.post(path, json={}), 401)
        error(client.post(path, json={}, headers={"X-API-Key": predict_only}), 403)
        answer = client.post(path, json={}, headers={"X-API-Key": admin})
    assert answer.status_code == 200, answer.text
    assert answer.json()["alert"]["acknowledged_by"] == "monitor-admin"
    assert workspace.monitoring.alerts.get(firing.id).status == "acknowledged"
