"""The model of ``benchmarks/serving.py``, and its in-process limits.

Run with the dev virtualenv's python. Trains ``HistGradientBoostingClassifier(random_state=0)``
on ``make_classification(n_samples, n_features=20, random_state=0)``, writes it with joblib
(plus the request row and an input example as JSON) into ``--out`` when given, then measures
how many rows per second the model predicts in this process: one row per call, and in batches.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

ROW_INDEX = 7  # the fixed row every request carries
N_FEATURES = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for model.joblib and the request row")
    parser.add_argument("--samples", type=int, default=50_000, help="rows to train on")
    parser.add_argument("--single", type=int, default=2_000, help="one-row predict calls")
    parser.add_argument("--batches", type=int, default=200, help="batched predict calls")
    parser.add_argument("--batch-size", type=int, default=64)
    return parser.parse_args(argv)


def train(samples: int) -> tuple[HistGradientBoostingClassifier, np.ndarray, float]:
    """The fitted model, its data set and the seconds fitting took."""
    X, y = make_classification(n_samples=samples, n_features=N_FEATURES, random_state=0)
    model = HistGradientBoostingClassifier(random_state=0)
    start = time.perf_counter()
    model.fit(X, y)
    return model, X, time.perf_counter() - start


def save(model: HistGradientBoostingClassifier, X: np.ndarray, out: Path) -> dict[str, str]:
    """model.joblib, row.json (the request row) and example.json (five rows)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "model": out / "model.joblib",
        "row": out / "row.json",
        "example": out / "example.json",
    }
    joblib.dump(model, files["model"])
    files["row"].write_text(json.dumps(X[ROW_INDEX].tolist()))
    files["example"].write_text(json.dumps(X[:5].tolist()))
    return {name: str(path) for name, path in files.items()}


def rate(rows: int, call_seconds: list[float]) -> dict[str, float]:
    """Rows per second over all calls, with the median and 99th percentile of one call."""
    total = sum(call_seconds)
    ordered = sorted(call_seconds)
    return {
        "calls": len(call_seconds),
        "rows": rows,
        "seconds": total,
        "rows_per_s": rows / total,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def time_calls(model: Any, chunks: list[np.ndarray]) -> list[float]:
    times = []
    for chunk in chunks:
        start = time.perf_counter()
        model.predict(chunk)
        times.append(time.perf_counter() - start)
    return times


def limits(model: Any, X: np.ndarray, single: int, batches: int, size: int) -> dict[str, Any]:
    """One row per call (a 1x20 numpy array, rows cycling through X) and batches of ``size``."""
    time_calls(model, [X[i : i + 1] for i in range(min(50, single))])  # warm up
    ones = [X[i % len(X) : i % len(X) + 1] for i in range(single)]
    starts = [(i * size) % (len(X) - size) for i in range(batches)]
    many = [X[s : s + size] for s in starts]
    return {
        "single_row": rate(single, time_calls(model, ones)),
        "batch": {**rate(batches * size, time_calls(model, many)), "batch_size": size},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model, X, train_s = train(args.samples)
    row = X[ROW_INDEX : ROW_INDEX + 1]
    results: dict[str, Any] = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "samples": args.samples,
        "train_s": train_s,
        "row": row[0].tolist(),
        "expected_class": int(model.predict(row)[0]),
        "files": save(model, X, args.out) if args.out else {},
        "in_process": limits(model, X, args.single, args.batches, args.batch_size),
    }
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
