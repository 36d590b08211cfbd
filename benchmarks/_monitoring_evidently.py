"""Evidently's half of ``benchmarks/monitoring.py``, run with the python of ``.bench/evidently``.

For each ``--rows`` size it builds the seeded data (``_monitoring_data.py``) as pandas
frames, then times ``Report([DataDriftPreset()], include_tests=True).run(current,
reference)`` and reads every column's method, score and verdict (the status of its "Value
Drift" test) from the snapshot. Prints the JSON of ``_monitoring_common.py``.

``--fixture PATH`` also writes the verdicts to a JSON file (one entry per size, merged
with what the file holds) for the test that checks modelyard's Evidently-compatible mode
without this virtualenv: ``tests/monitoring/evidently_verdicts.json``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

import _monitoring_data  # noqa: E402
import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from _monitoring_common import (  # noqa: E402
    arg_parser,
    dataset_verdict,
    emit,
    peak_rss_mib,
    rss_mib,
)
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

METHODS = {  # Evidently's display names -> the stat test names
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Kullback-Leibler divergence": "kl_div",
}


def run(rows: int, seed: int, repeats: int) -> dict[str, Any]:
    reference, current = _monitoring_data.make(rows, seed)
    ref_frame, cur_frame = pd.DataFrame(reference), pd.DataFrame(current)
    del reference, current
    before = rss_mib()
    best = float("inf")
    snapshot: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        report = Report([DataDriftPreset()], include_tests=True)
        snapshot = report.run(current_data=cur_frame, reference_data=ref_frame).dict()
        best = min(best, time.perf_counter() - start)
    columns = verdicts(snapshot)
    return {
        "rows": rows,
        "seed": seed,
        "seconds": best,
        "rss_before_mib": before,
        "peak_rss_mib": peak_rss_mib(),
        "columns": columns,
        "dataset": dataset_verdict(columns),
    }


def verdicts(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: method, score, threshold (from the metric) and drift (from its test)."""
    status = {
        t["metric_config"]["metric_id"]: t["status"]
        for t in snapshot["tests"]
        if t["metric_config"]["params"]["type"].endswith("ValueDrift")
    }
    columns = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        columns[config["column"]] = {
            "method": METHODS.get(config["method"], config["method"]),
            "score": float(metric["value"]),
            "threshold": float(config["threshold"]),
            "drifted": status[metric["id"]] == "FAIL",
        }
    return columns


def write_fixture(path: Path, runs: list[dict[str, Any]]) -> None:
    fixture = json.loads(path.read_text()) if path.exists() else {}
    fixture["evidently"] = evidently.__version__
    fixture["data"] = "benchmarks/_monitoring_data.py make(rows, seed)"
    sizes = fixture.setdefault("sizes", {})
    for found in runs:
        sizes[f"{found['rows']}-seed{found['seed']}"] = {
            "rows": found["rows"],
            "seed": found["seed"],
            "dataset": found["dataset"],
            "columns": found["columns"],
        }
    path.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, help="also write the verdicts to this JSON")
    args = parser.parse_args()
    runs = [run(rows, args.seed, args.repeats) for rows in args.rows or [100_000]]
    if args.fixture:
        write_fixture(args.fixture, runs)
    emit({"system": "evidently", "version": evidently.__version__, "runs": runs})


if __name__ == "__main__":
    main()
