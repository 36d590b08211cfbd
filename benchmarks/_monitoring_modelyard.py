"""modelyard's half of ``benchmarks/monitoring.py``, run with the dev virtualenv's python.

For each ``--rows`` size it builds the seeded data (``_monitoring_data.py``) as Arrow
tables, then times, separately:

- ``profile``: ``build_profile(reference)`` and its round trip through bytes (done once
  per model, when it is trained);
- ``check``: ``detect_drift(profile, current)`` with the stored profile, in the
  Evidently-compatible mode (the verdicts compared with Evidently's) and in the default
  mode (contingency chi-square).

Each is the best of ``--repeats`` runs.

``seconds`` (what is set against Evidently, which starts from the raw rows every time) is
profile plus one compatible check. A first check on 200 rows, untimed, loads scipy (as
``import evidently`` loads it on the other side, also untimed). Prints the JSON of ``_monitoring_common.py``, with the
default mode's verdicts under ``default_columns``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _monitoring_data
import pyarrow as pa
from _monitoring_common import (
    arg_parser,
    dataset_verdict,
    emit,
    peak_rss_mib,
    rss_mib,
)

import modelyard
from modelyard.monitoring import (
    DatasetDrift,
    DriftOptions,
    ReferenceProfile,
    build_profile,
    detect_drift,
)

COMPAT = DriftOptions(evidently_compat=True)


def table(columns: dict[str, Any]) -> pa.Table:
    """Arrow columns from the generator's NumPy ones (text via Python strings)."""
    return pa.table(
        {k: pa.array(v.tolist()) if v.dtype == object else v for k, v in columns.items()}
    )


def verdicts(result: DatasetDrift) -> dict[str, dict[str, Any]]:
    return {
        c.column: {
            "method": c.method.value,
            "score": c.score,
            "threshold": c.threshold,
            "drifted": c.drifted,
        }
        for c in result.columns
    }


def run(rows: int, seed: int, repeats: int) -> dict[str, Any]:
    reference, current = (table(side) for side in _monitoring_data.make(rows, seed))
    before = rss_mib()
    profile_s, check_s, default_s = float("inf"), float("inf"), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        stored = build_profile(reference).to_bytes()
        profile = ReferenceProfile.from_bytes(stored)
        profile_s = min(profile_s, time.perf_counter() - start)
        start = time.perf_counter()
        compat = detect_drift(profile, current, options=COMPAT)
        check_s = min(check_s, time.perf_counter() - start)
        start = time.perf_counter()
        default = detect_drift(profile, current)
        default_s = min(default_s, time.perf_counter() - start)
    columns = verdicts(compat)
    return {
        "rows": rows,
        "seed": seed,
        "seconds": profile_s + check_s,
        "profile_seconds": profile_s,
        "check_seconds": check_s,
        "default_check_seconds": default_s,
        "profile_bytes": len(stored),
        "rss_before_mib": before,
        "peak_rss_mib": peak_rss_mib(),
        "columns": columns,
        "dataset": dataset_verdict(columns),
        "default_columns": verdicts(default),
    }


def warm_up() -> None:
    reference, current = (table(side) for side in _monitoring_data.make(200, seed=99))
    detect_drift(build_profile(reference), current, options=COMPAT)


def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    warm_up()
    runs = [run(rows, args.seed, args.repeats) for rows in args.rows or [100_000]]
    emit({"system": "modelyard", "version": modelyard.__version__, "runs": runs})


if __name__ == "__main__":
    main()
