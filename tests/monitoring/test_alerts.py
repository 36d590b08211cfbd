"""Alert rules: fire once with evidence, acknowledge, resolve, deliver to a webhook."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modelyard import Workspace
from modelyard.errors import AlertNotFoundError, ConflictError, ValidationError
from modelyard.monitoring import AlertRule, AlertStatus
from monitorkit import classifier, deploy, predict


class Hook:
    """A webhook receiver on 127.0.0.1 (``port`` 0: any free one) that fails its first
    ``failures`` calls."""

    def __init__(self, failures: int = 0, port: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.failures = failures
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if hook.failures > 0:
                    hook.failures -= 1
                    self.send_response(500)
                else:
                    hook.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook(failures=1)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def labelled(ws: Workspace, xs: list[float], labels: list[int]) -> None:
    (result,) = predict(ws, "m", xs)
    ws.monitoring.feedback.add_many(result.prediction_ids, labels)


def rule(**fields: Any) -> AlertRule:
    base: dict[str, Any] = {
        "name": "accuracy-drop",
        "deployment": "m",
        "metric": "accuracy",
        "comparison": "<",
        "threshold": 0.8,
        "window_s": 3600,
        "min_samples": 4,
    }
    return AlertRule(**{**base, **fields})


def test_an_alert_fires_once_is_acknowledged_and_resolves_itself(
    workspace: Workspace, hook: Hook
) -> None:
    deploy(workspace, classifier())
    workspace.monitoring.add_rule(rule(webhook=hook.url))
    labelled(workspace, [1.0, 2.0], [0, 0])
    assert workspace.monitoring.evaluate_alerts() == []  # 2 labels < min_samples

    labelled(workspace, [3.0, 4.0], [0, 1])
    (fired,) = workspace.monitoring.evaluate_alerts()
    assert workspace.monitoring.evaluate_alerts() == []  # still true: nothing new

    assert fired.status is AlertStatus.FIRING and fired.value == pytest.approx(0.25)
    assert fired.evidence["samples"] == 4 and fired.evidence["condition"] == "accuracy < 0.8"
    assert fired.delivery is not None
    assert (fired.delivery["status"], fired.delivery["attempts"]) == ("delivered", 2)
    acknowledged = workspace.monitoring.alerts.acknowledge(fired.id[:8], by="ops")
    assert (acknowledged.status, acknowledged.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "ops")

    labelled(workspace, [1.0] * 20, [1] * 20)
    (resolved,) = workspace.monitoring.evaluate_alerts()
    assert resolved.id == fired.id and resolved.status is AlertStatus.RESOLVED
    assert [m["event"] for m in hook.received] == ["fired", "resolved"]
    with pytest.raises(ConflictError, match="resolved itself"):
        workspace.monitoring.alerts.acknowledge(fired.id)
    assert [a.status for a in workspace.monitoring.alerts.list(status="open")] == []


def test_an_unreachable_webhook_is_recorded_and_the_alert_still_fires(
    workspace: Workspace,
) -> None:
    deploy(workspace, classifier())
    workspace.monitoring.add_rule(rule(webhook="http://127.0.0.1:9/nothing", min_samples=1))
    labelled(workspace, [1.0], [0])

    (fired,) = workspace.monitoring.evaluate_alerts()

    assert fired.delivery is not None and fired.delivery["status"] == "failed"
    assert fired.delivery["attempts"] == 3


def test_health_and_drift_metrics_can_be_rules(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    predict(workspace, "m", [1.0, 2.0])
    workspace.monitoring.add_rule(
        rule(name="slow", metric="latency_p99_ms", comparison=">=", threshold=0.0, min_samples=1)
    )
    workspace.monitoring.add_rule(rule(name="drift", metric="drift_share", comparison=">="))

    (fired,) = workspace.monitoring.evaluate_alerts()

    assert fired.rule == "slow"  # drift has no reference: not measurable, nothing fires


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"metric": "happiness"}, "unknown metric"),
        ({"comparison": "=="}, "comparison"),
        ({"window_s": 0}, "window"),
        ({"webhook": "ftp://x"}, "not an http"),
    ],
)
def test_bad_rules_are_refused(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        rule(**fields)


def test_rules_are_unique_by_name_and_need_a_deployment(workspace: Workspace) -> None:
    deploy(workspace, classifier())
    workspace.monitoring.add_rule(rule())
    with pytest.raises(ConflictError, match="exists"):
        workspace.monitoring.add_rule(rule())
    workspace.monitoring.add_rule(rule(threshold=0.5), replace=True)
    assert workspace.monitoring.alerts.rule("accuracy-drop").threshold == 0.5
    with pytest.raises(AlertNotFoundError, match="accuracy-drop"):
        workspace.monitoring.alerts.delete_rule("nope")
    with pytest.raises(AlertNotFoundError):
        workspace.monitoring.alerts.get("ffff")


def test_a_receiver_down_for_a_while_still_hears_of_the_alert(workspace: Workspace) -> None:
    port = free_port()
    deploy(workspace, classifier())
    workspace.monitoring.add_rule(rule(webhook=f"http://127.0.0.1:{port}/hook", min_samples=1))
    labelled(workspace, [1.0], [0])
    (fired,) = workspace.monitoring.evaluate_alerts()  # the receiver is down
    assert fired.delivery is not None and fired.delivery["status"] == "failed"

    receiver = Hook(port=port)  # up again
    try:
        assert workspace.monitoring.evaluate_alerts() == []  # nothing new fires ...
        delivered = workspace.monitoring.alerts.get(fired.id)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()

    assert delivered.delivery is not None  # ... but the missed delivery is made
    assert delivered.delivery["status"] == "delivered"
    assert [h["status"] for h in delivered.delivery["history"]] == ["failed", "delivered"]
    assert [m["event"] for m in receiver.received] == ["fired"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
