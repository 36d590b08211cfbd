"""Smoke test of the drift benchmark's modelyard half (Evidently's needs its own venv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def runs() -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "_monitoring_modelyard.py"), "--rows=400", "--rows=3000"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["system"] == "modelyard"
    return list(result["runs"])


def test_each_size_is_timed_with_memory(runs: list[dict[str, Any]]) -> None:
    assert [r["rows"] for r in runs] == [400, 3000]
    for run in runs:
        assert run["seconds"] == pytest.approx(run["profile_seconds"] + run["check_seconds"])
        assert run["check_seconds"] > 0 and run["default_check_seconds"] > 0
        assert run["peak_rss_mib"] >= run["rss_before_mib"] > 0
        assert run["profile_bytes"] > 0


def test_every_column_gets_a_verdict_in_both_modes(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        assert len(run["columns"]) == 25
        assert set(run["default_columns"]) == set(run["columns"])
        assert run["dataset"]["drifted_count"] == sum(c["drifted"] for c in run["columns"].values())
    small, large = runs
    assert small["columns"]["n_normal_shift"]["method"] == "ks"
    assert large["columns"]["n_normal_shift"]["method"] == "wasserstein"
    for run in runs:
        for name in ("n_normal_shift", "n_uniform_shift", "c_country_shift"):
            assert run["columns"][name]["drifted"], (run["rows"], name)
