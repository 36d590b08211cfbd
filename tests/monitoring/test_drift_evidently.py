"""The Evidently-compatible mode gives Evidently's verdicts, and the default chi-square
does not cry wolf.

``evidently_verdicts.json`` holds what Evidently 0.7.23's DataDriftPreset answered on the
benchmark's seeded data (``benchmarks/_monitoring_data.py``) at 500 and 100,000 rows a
side, written by ``benchmarks/_monitoring_evidently.py --fixture`` in its own virtualenv
(see ``benchmarks/monitoring.py``). The live test reruns Evidently on another seed when
``.bench/evidently`` exists.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from modelyard.monitoring import (
    DatasetDrift,
    DriftMethod,
    DriftOptions,
    ReferenceProfile,
    build_profile,
    detect_drift,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("evidently_verdicts.json")
EVIDENTLY_PYTHON = ROOT / ".bench" / "evidently" / "bin" / "python"
COMPAT = DriftOptions(evidently_compat=True)


def _data_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_monitoring_data", ROOT / "benchmarks" / "_monitoring_data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = _data_module()


def _table(columns: dict[str, Any]) -> pa.Table:
    return pa.table(
        {k: pa.array(v.tolist()) if v.dtype == object else v for k, v in columns.items()}
    )


def _ours(rows: int, seed: int) -> DatasetDrift:
    reference, current = (_table(side) for side in DATA.make(rows, seed))
    stored = build_profile(reference).to_bytes()
    return detect_drift(ReferenceProfile.from_bytes(stored), current, options=COMPAT)


def _assert_same(theirs: dict[str, Any], ours: DatasetDrift, *, score_tolerance: float) -> None:
    assert sorted(theirs["columns"]) == sorted(c.column for c in ours.columns)
    for result in ours.columns:
        expected = theirs["columns"][result.column]
        assert result.method.value == expected["method"], result.column
        assert result.drifted == expected["drifted"], result.column
        assert result.threshold == expected["threshold"], result.column
        assert math.isclose(
            result.score, expected["score"], rel_tol=1e-6, abs_tol=score_tolerance
        ), (result.column, result.score, expected["score"])
    assert ours.drifted == theirs["dataset"]["drifted"]
    assert len(ours.drifted_columns) == theirs["dataset"]["drifted_count"]


@pytest.mark.parametrize(
    ("key", "score_tolerance"),
    [
        ("500-seed0", 1e-12),  # exact reference: the same tests on the same numbers
        ("100000-seed0", 1e-3),  # Wasserstein from the quantile sketch
    ],
)
def test_compatible_mode_gives_evidentlys_verdicts(key: str, score_tolerance: float) -> None:
    theirs = json.loads(FIXTURE.read_text())["sizes"][key]
    _assert_same(theirs, _ours(theirs["rows"], theirs["seed"]), score_tolerance=score_tolerance)


def test_fixture_covers_every_default_method() -> None:
    sizes = json.loads(FIXTURE.read_text())["sizes"]
    methods = {c["method"] for size in sizes.values() for c in size["columns"].values()}
    assert methods == {"ks", "chisquare", "z", "wasserstein", "jensenshannon"}


@pytest.mark.slow
def test_live_comparison_with_evidently() -> None:
    """Evidently in its own virtualenv, on a seed the fixture does not hold (about 15 s,
    most of it importing Evidently)."""
    if not EVIDENTLY_PYTHON.exists():
        pytest.skip(".bench/evidently does not exist (made by benchmarks/monitoring.py)")
    script = ROOT / "benchmarks" / "_monitoring_evidently.py"
    done = subprocess.run(
        [str(EVIDENTLY_PYTHON), str(script), "--rows=600", "--seed=7"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])["runs"][0]
    _assert_same(theirs, _ours(600, 7), score_tolerance=1e-12)


def _unchanged_columns(columns: int, rows: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Text columns of 4 categories drawn from the same distribution on both sides."""
    rng = np.random.default_rng(seed)
    labels = np.array(["red", "green", "blue", "black"])
    shares = [0.4, 0.3, 0.2, 0.1]

    def side() -> pa.Table:
        drawn = rng.choice(4, size=(columns, rows), p=shares)
        return pa.table({f"c{i}": labels[drawn[i]] for i in range(columns)})

    return side(), side()


def test_default_chisquare_flags_about_five_percent_of_unchanged_columns() -> None:
    """At 1,000 rows a side, the contingency test's false alarms stay near its 5% level
    over 400 unchanged columns; Evidently's goodness-of-fit test flags several times more."""
    reference, current = _unchanged_columns(400, 1000, seed=3)
    profile = build_profile(reference)
    default = detect_drift(profile, current)
    compat = detect_drift(profile, current, options=COMPAT)
    assert {c.method for c in default.columns} == {DriftMethod.CHISQUARE}
    default_rate = len(default.drifted_columns) / 400
    compat_rate = len(compat.drifted_columns) / 400
    print(f"unchanged columns flagged: default {default_rate:.1%}, compat {compat_rate:.1%}")
    assert 0.02 <= default_rate <= 0.085  # 5% +- 3 binomial standard deviations (1.1%)
    assert compat_rate >= 0.15
    assert compat_rate > 3 * default_rate
