"""Smoke test of the pipelines benchmark: every contender runs and they agree on the rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "pipelines.py"


def test_the_three_contenders_do_the_same_work(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "20000", "--repeats", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])

    assert set(results) == {"pandas", "duckdb", "modelyard"}
    rows = {r["rows_out"] for r in results.values()}
    assert len(rows) == 1
    assert 19_000 < rows.pop() < 20_000  # about 1% of the rows are invalid and dropped
    for result in results.values():
        assert result["seconds"] > 0
        assert result["peak_mib"] > 0
