"""What the dashboard tests share: a real workspace, headless Chromium and screenshots.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``scripts/services.sh``), driven by
Playwright for Python; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from rich.console import Console
from sqlalchemy.engine import make_url

from modelyard import Workspace
from modelyard._ids import new_id, now_ms
from modelyard.quickstart import run_quickstart
from modelyard.store._schema import latest_metrics, params, runs

CHROMIUM = Path(os.environ.get("MODELYARD_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
REQUIRE_SERVICES = os.environ.get("MODELYARD_REQUIRE_SERVICES") == "1"
RECORD = {
    "user_id": 7,
    "merchant_id": 3,
    "amount": 950.0,
    "hour": 3,
    "country": "BR",
    "home_country": "US",
    "channel": "online",
    "merchant_category": "electronics",
}


def build_workspace(path: Path) -> Path:
    """The quickstart on 5,000 transactions, plus what it does not make: a second model
    version as challenger, and a second version of the transactions dataset (appended rows
    with larger amounts) for diffs."""
    run_quickstart(path, rows=5_000, console=Console(file=io.StringIO()))
    with Workspace.open(path) as ws:
        champion = ws.registry.resolve("models:/fraud@champion")
        other = next(
            r
            for r in ws.tracking.search_runs(experiments=["fraud-quickstart"]).runs
            if r.id != champion.run_id
        )
        native = ws.registry.load(champion.uri).native
        challenger = ws.registry.register(
            "fraud", native, run_id=other.id, signature=champion.signature
        )
        ws.registry.set_alias("fraud", "challenger", challenger.version, reason="dashboard test")
        latest = ws.datasets.read("transactions@latest")
        more = latest.slice(0, 500)
        more = more.set_column(
            more.schema.get_field_index("amount"), "amount", pc.multiply(more["amount"], 3.0)
        )
        ws.datasets.write("transactions", more, append=True)
    return path


def add_runs(ws: Workspace, count: int, steps: int, experiment: str = "scale") -> None:
    """``count`` finished runs with two params, a metric ``loss`` over ``steps`` steps and a
    metric ``auc``, bulk inserted into the store's tables of a SQLite workspace (creating
    them one by one through the tracking API would take minutes)."""
    rng = np.random.default_rng(7)
    experiment_id = ws.tracking.experiment(experiment).id
    ids = [new_id() for _ in range(count)]
    began = now_ms() - count * 1000 + np.arange(count) * 1000
    decay = rng.uniform(0.01, 0.05, (count, 1))
    losses = 1.0 / (1.0 + decay * np.arange(steps)) + rng.uniform(0, 0.02, (count, steps))
    aucs = rng.uniform(0.5, 0.99, count)
    lrs = rng.choice(["0.1", "0.03", "0.01"], count)
    depths = rng.integers(2, 10, count)
    run_rows = [
        {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": f"run-{i:05d}",
            "status": "FINISHED",
            "start_time": int(began[i]),
            "end_time": int(began[i]) + 900,
            "user": "bench",
        }
        for i, run_id in enumerate(ids)
    ]
    param_rows = [
        {"run_id": run_id, "key": key, "value": str(value)}
        for run_id, lr, depth in zip(ids, lrs, depths, strict=True)
        for key, value in (("lr", lr), ("depth", depth))
    ]
    latest_rows = [
        row
        for i, run_id in enumerate(ids)
        for row in (
            _latest(run_id, "loss", float(losses[i, -1]), steps - 1, int(began[i]) + steps - 1),
            _latest(run_id, "auc", float(aucs[i]), 0, int(began[i])),
        )
    ]
    history = [
        (run_id, "loss", value, False, step, start + step)
        for run_id, start, row in zip(ids, began.tolist(), losses.tolist(), strict=True)
        for step, value in enumerate(row)
    ]
    history += [
        (run_id, "auc", auc, False, 0, start)
        for run_id, start, auc in zip(ids, began.tolist(), aucs.tolist(), strict=True)
    ]
    with ws.db.write() as conn:
        conn.execute(runs.insert(), run_rows)
        conn.execute(params.insert(), param_rows)
        conn.execute(latest_metrics.insert(), latest_rows)
    # The million history rows through SQLite's own driver, without the foreign key check
    # the store's connections make per row (the runs are there): 3 s instead of 8.
    database = make_url(ws.settings.resolved_metadata_url()).database
    assert database is not None
    with contextlib.closing(sqlite3.connect(database)) as con, con:
        con.executemany(
            "INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            history,
        )


def _latest(run_id: str, key: str, value: float, step: int, at: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": key,
        "value": value,
        "is_nan": False,
        "step": step,
        "timestamp": at,
    }


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium is not installed at {CHROMIUM} (scripts/services.sh installs it)"
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (no sandbox: tests may run as root)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


def shout(config: pytest.Config, text: str) -> None:
    """Print ``text`` on the terminal even while pytest captures output (screenshot paths and
    timings are what a person running the tests wants to see)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n  {text}", end="", flush=True)


class Tab:
    """One browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, base: str, config: pytest.Config) -> None:
        self.base = base
        self.config = config
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def open(self, fragment: str) -> None:
        """Load the dashboard at ``#<fragment>`` afresh (the caller waits for what it
        expects to see)."""
        self.page.goto("about:blank")
        self.page.goto(f"{self.base}#{fragment}")

    def wait_charts(self, count: int, timeout_ms: float = 15_000) -> list[dict[str, Any]]:
        """Wait for ``count`` charts with something drawn on them; their sizes."""
        self.page.wait_for_function(
            f"""() => {{
                const drawn = [...document.querySelectorAll('canvas')].filter((c) => {{
                    if (!c.width || !c.height) return false;
                    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    for (let i = 3; i < data.length; i += 4) if (data[i]) return true;
                    return false;
                }});
                return drawn.length >= {count};
            }}""",
            timeout=timeout_ms,
        )
        sizes: list[dict[str, Any]] = self.page.evaluate(
            "[...document.querySelectorAll('canvas')].map((c) => "
            "({width: c.getBoundingClientRect().width, height: c.getBoundingClientRect().height}))"
        )
        return sizes

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        shout(self.config, f"screenshot: {path}")
        return path

    def close(self) -> None:
        self.page.close()


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
