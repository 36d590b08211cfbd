"""Smoke test of the feature store benchmark's modelyard half (Feast's needs its own venv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CALLS = ["--single-calls=30", "--batch-calls=5", "--batch-size=10", "--sample=20", "--repeats=1"]


def _run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("features-data")
    _run(str(BENCHMARKS / "_features_data.py"), f"--out={data}", "--rows=2000", "--entities=200")
    out = _run(str(BENCHMARKS / "_features_modelyard.py"), f"--data={data}", *CALLS)
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_historical_retrieval_is_measured_with_a_sample(results: dict[str, Any]) -> None:
    historical = results["historical"]
    assert historical["rows"] == 200
    assert historical["seconds"] > 0
    sample = results["samples"]["historical"]
    assert sample["row_id"] == list(range(20))
    assert len(sample["f9"]) == 20
    assert results["samples"]["historical_summary"]["rows"] == 200


def test_materialization_is_measured(results: dict[str, Any]) -> None:
    if results["materialize"] == "unavailable":
        pytest.skip("ws.features.materialize is not in this checkout yet")
    assert results["materialize"]["seconds"] > 0
    assert results["materialize"]["written"] == 200


@pytest.mark.parametrize(("section", "calls", "size"), [("online_1", 30, 1), ("online_100", 5, 10)])
def test_online_reads_are_measured(
    results: dict[str, Any], section: str, calls: int, size: int
) -> None:
    if results[section] == "unavailable":
        pytest.skip("ws.features.get_online_features is not in this checkout yet")
    assert results[section]["calls"] == calls
    assert results[section]["entities_per_call"] == size
    assert 0 < results[section]["p50_s"] <= results[section]["p99_s"]


def test_online_sample_covers_known_and_unknown_entities(results: dict[str, Any]) -> None:
    if "online" not in results["samples"]:
        pytest.skip("ws.features.get_online_features is not in this checkout yet")
    online = results["samples"]["online"]
    assert len(online["user_id"]) == 25  # 20 known entities and 5 unknown ones
    assert online["event_timestamp_us"][-1] is None
    assert online["event_timestamp_us"][0] is not None
