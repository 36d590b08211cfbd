"""Smoke test of the tracking benchmark's modelyard half (MLflow's half needs its own venv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "_modelyard_tracking.py"
TINY = ["--single=50", "--batch-calls=2", "--batch-size=10", "--runs=3", "--search-runs=20"]


def test_modelyard_tracking_benchmark_prints_the_four_measurements() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--repeats=1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)

    assert results["single_metric"]["count"] == 50
    assert results["batch_metric"]["count"] == 20
    assert results["runs"]["count"] == 3
    for section in ("single_metric", "batch_metric", "runs"):
        assert results[section]["per_s"] > 0
    search = results["search"]
    assert search["all_count"] == 20
    assert search["all_s"] > 0
    assert search["filtered_s"] > 0
    assert 0 < search["filtered_count"] < 20
    assert search["filtered_sorted"]
