"""The monitoring report: its numbers are ws.monitoring's, and its HTML is one file that a
browser draws without the network (Debian's headless Chromium under Playwright)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

import modelyard.serving._deployment as serving_deployment
from conftest import service_missing
from modelyard import Workspace
from modelyard._ids import now_ms, time_id
from modelyard.config import load_settings
from modelyard.dashboard import write_report
from modelyard.deployments import DeploymentSpec
from modelyard.errors import ValidationError
from modelyard.monitoring import PREDICTION, AlertRule, build_report
from modelyard.monitoring._report import default_bucket
from modelyard.serving import InputBatch
from modelyard.serving._runtime import ServingState
from monitorkit import classifier, deploy

CHROMIUM = Path(os.environ.get("MODELYARD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "monitoring"
HOUR = 3_600_000
ROWS = 30  # per request; ten requests an hour for six hours
FEATURES = ["x", "amount", "country"]


@dataclass
class Served:
    """A workspace whose deployments logged six hours of predictions, ending at ``until``:
    ``m`` (versions 1 and 2 splitting traffic; ``x`` and ``country`` shifted and labels
    worse in the last three hours; 2,000 reference rows, so drift distances), ``s`` (a
    500-row reference, so drift tests) and ``bare`` (no reference, no labels)."""

    ws: Workspace
    until: int


def frame(rng: np.random.Generator, n: int, *, shifted: bool) -> pd.DataFrame:
    brazil = 0.45 if shifted else 0.1
    return pd.DataFrame(
        {
            "x": rng.normal(1.5 if shifted else 0.0, 1.0, n),
            "amount": rng.lognormal(3.0, 0.5, n),
            "country": rng.choice(["US", "BR", "DE"], n, p=[0.9 - brazil, brazil, 0.1]),
        }
    )


def fraud_model(train: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer(
        [("n", "passthrough", ["x", "amount"]), ("c", OneHotEncoder(), ["country"])]
    )
    return make_pipeline(encode, LogisticRegression()).fit(train, (train["x"] > 0).astype(int))


def register(ws: Workspace, name: str, model: Pipeline, train: pd.DataFrame) -> int:
    version = ws.registry.register(name, model, input_example=train.head(2)).version
    reference = train.copy()
    reference[PREDICTION] = model.predict(train)
    ws.monitoring.set_reference(f"models:/{name}/{version}", reference)
    return version


def replay(ws: Workspace, rng: np.random.Generator, clock: list[int]) -> dict[str, Any]:
    """Ten requests an hour over six hours to ``m`` and ``s``, back-dated by ``clock``;
    the prediction ids and inputs per hour of ``m``."""

    async def main() -> dict[str, Any]:
        state = ServingState(ws, server_id="report-test")
        await state.start()
        logged: dict[str, Any] = {"ids": [], "x": [], "hour": []}
        try:
            for hour in range(6):
                clock[0] = int((5.5 - hour) * HOUR)
                for name in ("m", "s"):
                    for _ in range(10 if name == "m" else 2):
                        rows = frame(rng, ROWS, shifted=hour >= 3)
                        columns = {c: rows[c].to_numpy() for c in FEATURES}
                        batch = InputBatch(n_rows=ROWS, columns=columns)
                        result = await state.deployment(name).predict(batch)
                        if name == "m":
                            logged["ids"] += result.prediction_ids
                            logged["x"].append(rows["x"].to_numpy())
                            logged["hour"] += [hour] * ROWS
        finally:
            await state.stop()
        return logged

    # A thread of its own: Playwright's sync API may keep an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    rng = np.random.default_rng(7)
    clock = [0]
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("MODELYARD_")]:
            if name != "MODELYARD_REQUIRE_SERVICES":
                patch.delenv(name)
        # The serving runtime logs each request ``clock[0]`` ms in the past.
        patch.setattr(serving_deployment, "now_ms", lambda: now_ms() - clock[0])
        patch.setattr(
            serving_deployment, "time_id", lambda: f"{now_ms() - clock[0]:012x}{time_id()[12:]}"
        )
        ws = Workspace(load_settings(tmp_path_factory.mktemp("report")))
        ws.start()
        train = frame(rng, 2000, shifted=False)
        model = fraud_model(train)
        for name, rows in (("m", 2000), ("s", 500)):
            first = register(ws, name, model, train.head(rows))
            ws.registry.set_alias(name, "champion", first)
        ws.registry.set_alias("m", "challenger", register(ws, "m", model, train))
        traffic = {"m": "champion=0.7,challenger=0.3", "s": "champion=1"}
        for name, routes in traffic.items():
            ws.deployments.create(DeploymentSpec(name=name, model=name, traffic=routes))
        logged = replay(ws, rng, clock)
    x, hour = np.concatenate(logged["x"]), np.asarray(logged["hour"])
    truth = (x > 0).astype(int)
    wrong = rng.random(truth.size) < np.where(hour >= 3, 0.3, 0.05)
    ws.monitoring.feedback.add_many(logged["ids"], np.where(wrong, 1 - truth, truth).tolist())
    until = now_ms() + 1
    minute = (until - 2 * HOUR) // 60_000 * 60_000
    ws.monitoring.record_errors("report-test", {("m", "champion", "internal_error", minute): 2})
    rules = [
        ("accuracy-drop", "accuracy", "<", 0.9, 3600),
        ("drift", "drift_share", ">=", 0.5, 6 * 3600),
    ]
    for rule, metric, comparison, threshold, window_s in rules:
        ws.monitoring.add_rule(AlertRule(rule, "m", metric, comparison, threshold, window_s))
    ws.monitoring.evaluate_alerts(until_ms=until)
    deploy(ws, classifier(), name="bare")
    yield Served(ws, until)
    ws.close()


# -- the numbers ---------------------------------------------------------------------------


def test_the_report_holds_what_monitoring_gives(served: Served) -> None:
    ws, until = served.ws, served.until
    report = build_report(ws.monitoring, "m", window="6h", bucket="1h", until_ms=until)

    bucketed = ws.monitoring.performance("m", window="6h", bucket="1h", until_ms=until)
    whole = ws.monitoring.performance("m", window="6h", until_ms=until)
    assert report["performance"]["windows"] == [w.to_dict() for w in bucketed]
    assert report["performance"]["overall"] == [w.to_dict() for w in whole]
    assert report["performance"]["metrics"] == ["accuracy", "precision", "recall", "f1"]
    health = ws.monitoring.health("m", window="6h", bucket="1h", until_ms=until)
    assert report["health"]["windows"] == [w.to_dict() for w in health]
    (summary,) = ws.monitoring.health("m", window="6h", until_ms=until)
    assert report["health"]["summary"] == summary.to_dict()
    assert (summary.requests, summary.errors) == (60, 2)

    drift = ws.monitoring.drift("m", window="6h", until_ms=until)
    expected = drift.to_dict()["columns"]
    found = [*report["drift"]["columns"], report["drift"]["prediction"]]
    assert {
        c["column"]: {k: v for k, v in c.items() if k != "score_kind"} for c in found
    } == expected
    assert [c["column"] for c in report["drift"]["columns"]][-1] == "amount"  # drifted first
    assert set(report["drift"]["drifted_columns"]) == {"x", "country", PREDICTION}
    assert report["drift"]["drifted"] is True

    assert sum(v["predictions"] for v in report["versions"]) == 6 * 10 * ROWS
    assert [v["version"] for v in report["versions"]] == [1, 2]
    assert [t["version"] for t in report["targets"]] == [1, 2]
    assert {a["rule"] for a in report["alerts"]["open"]} == {"accuracy-drop", "drift"}
    assert report["window"]["until_ms"] == until and len(health) == 6
    json.dumps(report, allow_nan=False)  # strict JSON: no NaN or infinity anywhere


def test_accuracy_drops_where_the_labels_get_worse(served: Served) -> None:
    report = build_report(served.ws.monitoring, "m", window="6h", until_ms=served.until)

    overall = [w for w in report["performance"]["windows"] if w["version"] is None]
    accuracy = [w["metrics"]["accuracy"]["value"] for w in overall]
    assert report["window"]["bucket"] == "1h"  # a seventh of 6 hours, rounded
    assert min(accuracy[:3]) > 0.85 > max(accuracy[3:])


def test_drift_tests_against_a_small_reference(served: Served) -> None:
    report = build_report(served.ws.monitoring, "s", window="6h", until_ms=served.until)

    methods = {c["column"]: c["method"] for c in report["drift"]["columns"]}
    assert methods == {"x": "ks", "amount": "ks", "country": "chisquare"}
    assert {c["score_kind"] for c in report["drift"]["columns"]} == {"p_value"}
    assert report["drift"]["columns"][0]["drifted"]


def test_without_a_reference_or_labels_the_report_says_so(served: Served) -> None:
    report = build_report(served.ws.monitoring, "bare", window="1h")

    assert report["drift"]["available"] is False
    assert "set_reference" in report["drift"]["note"]
    assert report["performance"]["windows"] == [] and "labels" in report["performance"]["note"]
    assert report["summary"]["dataset_drift"] is None


@pytest.mark.parametrize(
    ("window", "bucket"),
    [("7d", "1d"), ("1d", "3h"), ("6h", "1h"), ("1h", "10m"), ("30d", "7d"), ("10m", "1m")],
)
def test_the_default_bucket_gives_about_seven_points(window: str, bucket: str) -> None:
    assert default_bucket(window) == bucket


def test_a_bucket_too_small_for_the_window_is_refused(served: Served) -> None:
    with pytest.raises(ValidationError, match="larger bucket"):
        build_report(served.ws.monitoring, "m", window="30d", bucket="1m")


# -- the files -----------------------------------------------------------------------------


class _References(HTMLParser):
    """Every src and href in a page, and the ids of its chart containers."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.charts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("type") not in ("module", "application/json"):
            self.links.append(f"script of type {found.get('type')}")
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if "chart" in (found.get("class") or "").split():
            self.charts.append(found.get("id") or "")


@pytest.fixture(scope="module")
def written(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    return {
        name: write_report(served.ws, name, window="6h", out_dir=folder / name)[0]
        for name in ("m", "s", "bare")
    }


def test_the_html_is_one_file_with_the_same_numbers_as_the_json(written: dict[str, Path]) -> None:
    page = written["m"].read_text(encoding="utf-8")
    parser = _References()
    parser.feed(page)

    assert parser.links == []  # no script src, no stylesheet link, no image
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|@import""", page)
    assert "const echarts=" in page and "export{" not in page  # ECharts inlined
    assert len(parser.charts) == 12  # overview, prediction, 3 features, 4 metrics, 3 health
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert embedded is not None
    data = json.loads(written["m"].with_name("report.json").read_text(encoding="utf-8"))
    assert json.loads(embedded.group(1)) == data
    for table in ("drift", "performance", "health", "rules"):  # the numbers as tables too
        assert f'data-table="{table}"' in page


def test_the_default_folder_is_under_the_workspace(served: Served) -> None:
    html_path, json_path = write_report(served.ws, "bare", window="1h")

    assert html_path.parent == json_path.parent
    assert html_path.parent.parent == served.ws.path / "reports"
    assert re.fullmatch(r"bare-\d{8}T\d{6}Z", html_path.parent.name)


# -- in the browser ------------------------------------------------------------------------


_DRAWN = """(selector) => [...document.querySelectorAll(selector)].map((box) => {
    const canvas = box.querySelector("canvas");
    if (!canvas || !canvas.width || !canvas.height) return {id: box.id, width: 0, inked: false};
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = false;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) { inked = true; break; }
    const size = canvas.getBoundingClientRect();
    return {id: box.id, width: size.width, height: size.height, inked};
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_missing(
            f"Chromium is not installed at {CHROMIUM} (scripts/services.sh installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.mark.parametrize(("name", "charts"), [("m", 12), ("s", 8), ("bare", 0)])
def test_every_chart_is_drawn_without_console_errors(
    browser: Any, written: dict[str, Path], name: str, charts: int
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    try:
        page.goto(written[name].as_uri())
        page.wait_for_function(f"document.documentElement.dataset.charts === '{charts}'")
        drawn = page.evaluate(_DRAWN, ".chart")
        for box in page.query_selector_all(".chart"):  # every tooltip formatter runs once
            box.hover()
        page.mouse.move(0, 0)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
    finally:
        page.close()

    assert len(drawn) == charts
    assert [
        b["id"] for b in drawn if not (b["inked"] and b["width"] > 200 and b["height"] > 100)
    ] == []
    assert errors == []
