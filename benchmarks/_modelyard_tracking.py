"""modelyard's half of ``benchmarks/tracking.py``: the tracking workload on a fresh workspace.

Run with the dev virtualenv's python. Takes the same options as ``_mlflow_tracking.py`` and
prints the same JSON shape on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modelyard
from modelyard import Workspace
from modelyard.config import load_settings

FILTER = "params.p0 = 'v3' and metrics.m > 0.5"
ORDER_BY = ["metrics.m desc"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The workload's size; ``_mlflow_tracking.py`` takes the same options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=200_000, help="single-value metric calls")
    parser.add_argument("--batch-calls", type=int, default=200, help="batched metric calls")
    parser.add_argument("--batch-size", type=int, default=1_000, help="values per batched call")
    parser.add_argument("--runs", type=int, default=300, help="runs created and ended")
    parser.add_argument("--search-runs", type=int, default=1_000, help="runs to search over")
    parser.add_argument("--repeats", type=int, default=21, help="repetitions of each search")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def search_data(n: int, seed: int) -> list[tuple[dict[str, str], float]]:
    """Params and metric ``m`` of each search run; identical in both benchmark halves."""
    rng = random.Random(seed)
    return [({f"p{j}": f"v{(i + j) % 7}" for j in range(10)}, rng.random()) for i in range(n)]


def rate(count: int, seconds: float) -> dict[str, float]:
    return {"count": count, "seconds": seconds, "per_s": count / seconds}


def median_seconds(repeats: int, call: Callable[[], Any]) -> tuple[float, Any]:
    """Median wall time of ``call`` over ``repeats`` calls, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def single_metric(ws: Workspace, n: int) -> dict[str, float]:
    run = ws.start_run("bench", name="single")
    start = time.perf_counter()
    with run:
        for i in range(n):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
    return rate(n, time.perf_counter() - start)


def batch_metric(ws: Workspace, calls: int, size: int) -> dict[str, float]:
    run = ws.start_run("bench", name="batch")
    keys = [f"k{j}" for j in range(size)]
    start = time.perf_counter()
    with run:
        for i in range(calls):
            run.log_metrics({k: i + j / size for j, k in enumerate(keys)}, step=i)
    return rate(calls * size, time.perf_counter() - start)


def create_runs(ws: Workspace, n: int) -> dict[str, float]:
    start = time.perf_counter()
    for i in range(n):
        with ws.start_run("bench", name=f"r{i}", params={"a": i, "b": "x", "c": 0.5}):
            pass
    return rate(n, time.perf_counter() - start)


def search(ws: Workspace, n: int, repeats: int, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    for i, (values, m) in enumerate(search_data(n, seed)):
        with ws.start_run("search", name=f"s{i}", params=values) as run:
            run.log_metric("m", m, step=0)
    setup_s = time.perf_counter() - start

    def list_all() -> list[Any]:
        return ws.tracking.search_runs(experiments=["search"], max_results=n).runs

    def filtered() -> list[Any]:
        return ws.tracking.search_runs(
            experiments=["search"], filter=FILTER, order_by=ORDER_BY, max_results=n
        ).runs

    all_s, everything = median_seconds(repeats, list_all)
    filtered_s, found = median_seconds(repeats, filtered)
    values = [r.metrics["m"].value for r in found]
    return {
        "runs": n,
        "setup_s": setup_s,
        "all_s": all_s,
        "all_count": len(everything),
        "filtered_s": filtered_s,
        "filtered_count": len(found),
        "filtered_sum_m": round(sum(values), 9),
        "filtered_sorted": values == sorted(values, reverse=True),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    for name in [n for n in os.environ if n.startswith("MODELYARD_")]:
        del os.environ[name]  # measure a fresh workspace's defaults, whatever the caller set
    out = sys.stdout
    with (
        contextlib.redirect_stdout(sys.stderr),
        tempfile.TemporaryDirectory(prefix="bench-modelyard-") as folder,
    ):
        ws = Workspace(load_settings(Path(folder)))
        ws.start()
        try:
            results: dict[str, Any] = {
                "system": "modelyard",
                "version": modelyard.__version__,
                "python": sys.version.split()[0],
                "single_metric": single_metric(ws, args.single),
                "batch_metric": batch_metric(ws, args.batch_calls, args.batch_size),
                "runs": create_runs(ws, args.runs),
                "search": search(ws, args.search_runs, args.repeats, args.seed),
            }
        finally:
            ws.close()
    out.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
