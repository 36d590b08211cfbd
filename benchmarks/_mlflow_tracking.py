"""MLflow's half of ``benchmarks/tracking.py``: the tracking workload on MLflow's SQLite store.

Run with the MLflow virtualenv's python (``.bench/mlflow/bin/python``); it imports nothing
from modelyard, so that the two systems never share a process. Prints one JSON object on
stdout; ``_modelyard_tracking.py`` runs the same workload and prints the same shape.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.ERROR)
logging.getLogger("alembic").setLevel(logging.ERROR)

FILTER = "params.p0 = 'v3' and metrics.m > 0.5"
ORDER_BY = ["metrics.m DESC"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The workload's size; ``_modelyard_tracking.py`` takes the same options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=2_000, help="single-value metric calls")
    parser.add_argument("--batch-calls", type=int, default=20, help="batched metric calls")
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


def single_metric(experiment_id: str, n: int) -> dict[str, float]:
    mlflow.start_run(experiment_id=experiment_id, run_name="single")
    start = time.perf_counter()
    for i in range(n):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    mlflow.end_run()
    return rate(n, time.perf_counter() - start)


def batch_metric(
    client: MlflowClient, experiment_id: str, calls: int, size: int
) -> dict[str, float]:
    run_id = client.create_run(experiment_id, run_name="batch").info.run_id
    keys = [f"k{j}" for j in range(size)]
    start = time.perf_counter()
    for i in range(calls):
        ts = int(time.time() * 1000)
        client.log_batch(
            run_id, metrics=[Metric(k, i + j / size, ts, i) for j, k in enumerate(keys)]
        )
    client.set_terminated(run_id)
    return rate(calls * size, time.perf_counter() - start)


def create_runs(experiment_id: str, n: int) -> dict[str, float]:
    start = time.perf_counter()
    for i in range(n):
        mlflow.start_run(experiment_id=experiment_id, run_name=f"r{i}")
        mlflow.log_params({"a": i, "b": "x", "c": 0.5})
        mlflow.end_run()
    return rate(n, time.perf_counter() - start)


def search(
    client: MlflowClient, experiment_id: str, n: int, repeats: int, seed: int
) -> dict[str, Any]:
    start = time.perf_counter()
    for i, (values, m) in enumerate(search_data(n, seed)):
        run_id = client.create_run(experiment_id, run_name=f"s{i}").info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("m", m, int(time.time() * 1000), 0)],
            params=[Param(k, v) for k, v in values.items()],
        )
        client.set_terminated(run_id)
    setup_s = time.perf_counter() - start

    def list_all() -> list[Any]:
        return mlflow.search_runs(
            experiment_ids=[experiment_id], max_results=n, output_format="list"
        )

    def filtered() -> list[Any]:
        return mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=FILTER,
            order_by=ORDER_BY,
            max_results=n,
            output_format="list",
        )

    all_s, everything = median_seconds(repeats, list_all)
    filtered_s, found = median_seconds(repeats, filtered)
    values = [r.data.metrics["m"] for r in found]
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
    out = sys.stdout
    # Anything MLflow prints goes to stderr: stdout carries the JSON result alone.
    with (
        contextlib.redirect_stdout(sys.stderr),
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as folder,
    ):
        mlflow.set_tracking_uri(f"sqlite:///{Path(folder) / 'mlflow.db'}")
        client = MlflowClient()
        results: dict[str, Any] = {
            "system": "mlflow",
            "version": mlflow.__version__,
            "python": sys.version.split()[0],
        }
        experiment_id = client.create_experiment("bench", artifact_location=f"{folder}/artifacts")
        results["single_metric"] = single_metric(experiment_id, args.single)
        results["batch_metric"] = batch_metric(
            client, experiment_id, args.batch_calls, args.batch_size
        )
        results["runs"] = create_runs(experiment_id, args.runs)
        search_experiment = client.create_experiment(
            "search", artifact_location=f"{folder}/artifacts-search"
        )
        results["search"] = search(
            client, search_experiment, args.search_runs, args.repeats, args.seed
        )
    out.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
