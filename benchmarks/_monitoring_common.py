"""What both halves of the drift benchmark share: options, memory readings, the JSON shape.

Imported by ``_monitoring_evidently.py`` (Evidently's virtualenv) and
``_monitoring_modelyard.py`` (the dev virtualenv), so it uses the standard library only.
Each worker prints one JSON line on stdout:

``{"system", "version", "runs": [{"rows", "seed", "seconds", "rss_before_mib",
"peak_rss_mib", "columns": {name: {"method", "score", "threshold", "drifted"}},
"dataset": {"drifted_count", "share", "drifted"}}, ...]}``
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from typing import Any

DRIFT_SHARE = 0.5


def arg_parser(description: str) -> argparse.ArgumentParser:
    """The options both workers take: sizes (rows of reference and of current), seed and
    how many timed runs per size (the best is kept)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, action="append", help="rows per side (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per size (best)")
    return parser


def rss_mib() -> float:
    """The current resident set size (Linux), in MiB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return float("nan")
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dataset_verdict(columns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    drifted = sum(1 for c in columns.values() if c["drifted"])
    share = drifted / len(columns) if columns else 0.0
    return {"drifted_count": drifted, "share": share, "drifted": share >= DRIFT_SHARE}


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
