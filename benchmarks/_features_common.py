"""What the two halves of the feature store benchmark share: options, keys, timing, samples.

Imported by ``_features_feast.py`` (Feast's virtualenv) and ``_features_modelyard.py`` (the
dev virtualenv), so it uses the standard library only. The online keys come from
``random.Random(seed)``, which gives the same numbers in every Python.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIEW = "user_features"
UNAVAILABLE = "unavailable"
UNKNOWN_IN_SAMPLE = 5  # ids that have no rows, in the online sample: both must say "not found"
WARM_CALLS = 20
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Options:
    """One worker's run: the data folder and how much to measure."""

    data: Path
    single_calls: int
    batch_calls: int
    batch_size: int
    sample: int
    repeats: int
    offline_store: str
    meta: dict[str, Any]

    @property
    def feature_names(self) -> list[str]:
        return [f"f{i}" for i in range(self.meta["features"])]

    @property
    def refs(self) -> list[str]:
        return [f"{VIEW}:{name}" for name in self.feature_names]

    @property
    def entities(self) -> int:
        return int(self.meta["entities"])


def parse_args(description: str, argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True, help="from _features_data.py")
    parser.add_argument("--single-calls", type=int, default=2_000)
    parser.add_argument("--batch-calls", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--sample", type=int, default=1_000, help="rows and entities compared")
    parser.add_argument("--repeats", type=int, default=3, help="historical retrievals (median)")
    parser.add_argument(
        "--offline-store", choices=("duckdb", "file"), default="duckdb", help="Feast's only"
    )
    args = parser.parse_args(argv)
    meta = json.loads((args.data / "meta.json").read_text())
    return Options(
        args.data,
        args.single_calls,
        args.batch_calls,
        args.batch_size,
        args.sample,
        args.repeats,
        args.offline_store,
        meta,
    )


def online_keys(opts: Options) -> tuple[list[int], list[list[int]], list[int]]:
    """The keys of the single-entity calls, of the batched calls, and of the sample (distinct
    known entities, then a few unknown ones), the same in both halves."""
    rng = random.Random(opts.meta["seed"])
    n = opts.entities
    singles = [rng.randrange(n) for _ in range(opts.single_calls)]
    batches = [[rng.randrange(n) for _ in range(opts.batch_size)] for _ in range(opts.batch_calls)]
    known = rng.sample(range(n), min(opts.sample, n))
    unknown = [n + 1_000 + i for i in range(UNKNOWN_IN_SAMPLE)]
    return singles, batches, known + unknown


def warm_keys(opts: Options, size: int) -> list[list[int]]:
    rng = random.Random(-1 - opts.meta["seed"])
    return [[rng.randrange(opts.entities) for _ in range(size)] for _ in range(WARM_CALLS)]


def latencies(call: Callable[[list[int]], Any], keys: list[list[int]]) -> dict[str, Any]:
    """p50, p99 and mean of ``call(k)`` over each ``k`` in ``keys``, in seconds."""
    times = []
    for k in keys:
        start = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "calls": len(times),
        "entities_per_call": len(keys[0]) if keys else 0,
        "p50_s": statistics.median(times),
        "p99_s": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)],
        "mean_s": statistics.fmean(times),
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def median_timed(repeats: int, call: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """The median and every wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        seconds, result = timed(call)
        times.append(seconds)
    return {"seconds": statistics.median(times), "all_s": times}, result


def value(v: Any) -> float | None:
    """A feature value as JSON can carry it: NaN and missing values are both ``None``."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def micros(moment: Any) -> int | None:
    """A timestamp as microseconds since the epoch, UTC (naive means UTC); ``None`` stays."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if hasattr(moment, "to_pydatetime"):  # a pandas Timestamp
        moment = moment.to_pydatetime()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send what the library prints to stderr: stdout carries the one JSON line."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
