"""Smoke tests of the serving benchmark's parts that need no peer and no wrk: the model's
in-process limits (tiny sizes), and reading wrk's summary and the servers' answers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = ["--samples=600", "--single=20", "--batches=3", "--batch-size=8"]


def load(name: str) -> ModuleType:
    """A private module of benchmarks/ (not a package), registered as dataclasses need."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_in_process_limits_print_the_model_and_both_rates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "_serving_model.py"), f"--out={tmp_path}", *TINY],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)

    assert results["samples"] == 600
    assert results["expected_class"] in (0, 1)
    assert len(results["row"]) == 20
    assert {"sklearn", "numpy", "python", "train_s"} <= results.keys()
    assert Path(results["files"]["model"]).is_file()
    assert len(json.loads(Path(results["files"]["example"]).read_text())) == 5
    single, batch = results["in_process"]["single_row"], results["in_process"]["batch"]
    assert (single["calls"], single["rows"]) == (20, 20)
    assert (batch["calls"], batch["rows"], batch["batch_size"]) == (3, 24, 8)
    for limit in (single, batch):
        assert {"seconds", "rows_per_s", "p50_ms", "p99_ms"} <= limit.keys()
        assert limit["rows_per_s"] > 0


def test_wrk_summary_counts_only_2xx_answers_as_throughput() -> None:
    wrk = load("_serving_wrk")
    line = wrk.MARKER + json.dumps(
        {
            "requests": 1000,
            "duration_us": 2_000_000,
            "bytes": 1,
            "non_2xx": 900,
            "connect_errors": 0,
            "read_errors": 0,
            "write_errors": 0,
            "timeouts": 0,
            "mean_us": 1.0,
            "p50_us": 1500,
            "p90_us": 2000,
            "p99_us": 9000,
            "max_us": 9500,
        }
    )
    summary = wrk.summarize(wrk.parse(f"Running 2s test\n{line}\n"))

    assert summary["per_s"] == 500
    assert summary["ok_per_s"] == 50
    assert summary["error_share"] == 0.9
    assert (summary["p50_ms"], summary["p99_ms"]) == (1.5, 9.0)


def test_predicted_class_reads_each_servers_answer() -> None:
    load("_serving_procs")
    servers = load("_serving_servers")

    assert servers.predicted_class(b'{"predictions": [1], "model_version": 1}') == 1
    assert servers.predicted_class(b"[0]") == 0
    assert servers.predicted_class(b'{"detail": "busy"}') is None
    assert servers.predicted_class(b"not json") is None


def test_cpu_watch_splits_the_machines_cpu_time() -> None:
    load("_serving_procs")
    cpu = load("_serving_cpu")

    with cpu.watch(os.getpid()) as usage:
        sum(range(200_000))

    assert {"seconds", "server_cores", "wrk_cores", "other_cores", "steal_cores"} <= usage.keys()
    assert all(value >= 0 for value in usage.values())
