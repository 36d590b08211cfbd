"""Scaling out: batch scoring rows/s in-process and on Ray Data with 1 and 2 workers, and
prediction requests/s on Ray Serve beside ``modelyard serve``.

Usage: ``python benchmarks/scale.py [--rows N] [--files N] [--duration S] [--concurrency C]
[--skip-serving]``.

Batch scoring: ``HistGradientBoostingClassifier(random_state=0)`` on 20 features, scored
over ``--rows`` rows in ``--files`` Parquet files with ``predict_batch`` (batches of 16,384
rows): once in this process, then on a local Ray (``num_cpus`` = this machine's cores) with
a pool of 1 and of 2 scoring actors. Each configuration runs twice; the table shows the
faster run (the first also pays for starting the actors, shown as ``cold``).

Serving: the same model behind one deployment, served by ``modelyard serve`` (one uvicorn
worker) and by ``modelyard serve --backend ray`` (one replica, then up to two), each loaded
for ``--duration`` seconds by an httpx async client with ``--concurrency`` requests in
flight, one row per request on the native route. Both servers run on this machine, beside
the load generator: on 2 cores the client takes a large share, so these are per-node
ceilings of this setup, not of the server alone. Prints a table and writes
``.bench/scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    BENCH.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelyard-scale-") as tmp:
        folder = Path(tmp) / "ws"
        features = setup(folder, args.rows, args.files)
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]},
            "batch": batch(folder, args.rows),
        }
        if not args.skip_serving:
            results["serving"] = serving(folder, features, args.duration, args.concurrency)
    results["machine"]["load_after"] = os.getloadavg()[0]
    (BENCH / "scale.json").write_text(json.dumps(results, indent=2))
    report(results)


def setup(folder: Path, rows: int, files: int) -> list[str]:
    """A workspace with model ``scale`` (alias champion), deployment ``scale`` and the
    input files; returns the feature names."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    from modelyard import Workspace
    from modelyard.deployments import DeploymentSpec

    folder.mkdir(parents=True)
    (folder / "modelyard.toml").write_text("# scale benchmark\n")
    X, y = make_classification(n_samples=20_000, n_features=20, random_state=0)
    names = [f"f{i}" for i in range(20)]
    train = pd.DataFrame(X, columns=names)
    model = HistGradientBoostingClassifier(random_state=0).fit(train, y)
    with Workspace.open(folder) as ws:
        ws.registry.register("scale", model, input_example=train.head(3))
        ws.registry.set_alias("scale", "champion", 1)
        ws.deployments.create(DeploymentSpec(name="scale", model="scale"))
    rng = np.random.default_rng(1)
    data = folder / "data"
    data.mkdir()
    per_file = rows // files
    for n in range(files):
        columns = {name: rng.normal(size=per_file) for name in names}
        pq.write_table(pa.table(columns), data / f"part-{n:03d}.parquet")
    return names


def batch(folder: Path, rows: int) -> dict[str, Any]:
    """rows/s of predict_batch here and on Ray with 1 and 2 scoring actors."""
    import ray

    from modelyard import Workspace
    from modelyard.compute import RayCompute, predict_batch

    out: dict[str, Any] = {"rows": rows}
    with Workspace.open(folder) as ws:

        def run(name: str, compute: RayCompute | None, workers: int | None) -> None:
            times = []
            for attempt in range(2):
                result = predict_batch(
                    ws,
                    "models:/scale@champion",
                    "data/*.parquet",
                    f"out/{name}-{attempt}",
                    compute=compute,
                    batch_rows=16_384,
                    workers=workers,
                )
                times.append(result.seconds)
            out[name] = {
                "rows_per_s": round(rows / min(times), 1),
                "cold_rows_per_s": round(rows / times[0], 1),
                "seconds": [round(t, 2) for t in times],
            }
            print(f"batch {name}: {out[name]}", file=sys.stderr, flush=True)

        run("in_process", None, None)
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        try:
            compute = RayCompute()
            run("ray_1_worker", compute, 1)
            run("ray_2_workers", compute, 2)
        finally:
            ray.shutdown()
    return out


def serving(folder: Path, features: list[str], duration: float, concurrency: int) -> dict[str, Any]:
    """Requests/s of modelyard serve and of Ray Serve replicas, one row per request."""
    body = {"records": [dict.fromkeys(features, 0.5)]}
    out: dict[str, Any] = {"concurrency": concurrency, "duration_s": duration}
    for name, extra in (
        ("modelyard_serve", ["--workers", "1"]),
        ("ray_serve_1_replica", ["--backend", "ray", "--workers", "1", "--max-replicas", "1"]),
        ("ray_serve_2_replicas", ["--backend", "ray", "--workers", "2", "--max-replicas", "2"]),
    ):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "modelyard.cli",
            "-w",
            str(folder),
            "serve",
            "--port",
            str(port),
            *extra,
        ]
        log = (BENCH / f"scale-{name}.log").open("w")
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, 180)
            asyncio.run(_load(url, body, concurrency, 2.0))  # warm-up
            out[name] = asyncio.run(_load(url, body, concurrency, duration))
            print(f"serving {name}: {out[name]}", file=sys.stderr, flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
    return out


async def _load(
    url: str, body: dict[str, Any], concurrency: int, duration: float
) -> dict[str, Any]:
    import httpx

    target = f"{url}/v1/deployments/scale/predict"
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                answer = await client.post(target, json=body)
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def p(q: float) -> float | None:
        return round(1000 * latencies[int(q * (len(latencies) - 1))], 2) if latencies else None

    return {
        "req_per_s": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "p50_ms": p(0.5),
        "p99_ms": p(0.99),
    }


def _wait_ready(url: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready in {seconds:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def report(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(
        f"\nmachine: {machine['cpus']} CPUs, load average {machine['load_before']:.1f} before, {machine['load_after']:.1f} after"
    )
    batch_results = results["batch"]
    print(f"\nbatch scoring, {batch_results['rows']:,} rows   rows/s (best of 2)   cold rows/s")
    for name in ("in_process", "ray_1_worker", "ray_2_workers"):
        row = batch_results[name]
        print(f"  {name:<22} {row['rows_per_s']:>16,.0f}   {row['cold_rows_per_s']:>11,.0f}")
    if "serving" in results:
        serving_results = results["serving"]
        print(
            f"\nserving, 1 row per request, {serving_results['concurrency']} in flight   req/s   p50 ms   p99 ms   errors"
        )
        for name in ("modelyard_serve", "ray_serve_1_replica", "ray_serve_2_replicas"):
            row = serving_results[name]
            print(
                f"  {name:<22} {row['req_per_s']:>20,.0f}   {row['p50_ms']:>6}   {row['p99_ms']:>6}   {row['errors']}"
            )


if __name__ == "__main__":
    main()
