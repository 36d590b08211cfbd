"""modelyard's prediction server vs MLflow, BentoML and LitServe: one model, one machine, one go.

Usage: ``python benchmarks/serving.py [--duration S] [--skip SYSTEM ...] [--quick] [--wait-quiet S]``.

The model is ``HistGradientBoostingClassifier(random_state=0)`` fitted on
``make_classification(n_samples=50_000, n_features=20, random_state=0)``, trained once here
(dev virtualenv) and saved with joblib; MLflow gets it re-saved in its own format. Each
system runs alone, one after the other, in its own virtualenv under ``.bench/`` (made on
first use), with ``OMP_NUM_THREADS=1``, one worker, on 127.0.0.1; an echo server shows the
load generator's ceiling. For each: wait until it answers, check it predicts the in-process
class for the request row, warm it up, then ``wrk -t2 -c32 --latency`` POSTs that single
row for ``--duration`` seconds. Every server gets the same bytes, ``{"inputs": [[...]]}``
(MLflow's tensor form; modelyard takes it on its MLflow route). Throughput counts 2xx answers
only. Also measured: the model's own rows/s in this process, one row per call and in batches
of 64, and where the CPU went during each load (server, wrk, other processes: on 2 cores a
busy neighbour halves a result, so it is flagged; ``--wait-quiet`` waits for a quiet
machine). Prints a table and writes ``.bench/serving.json``; server logs go to
``.bench/serving-logs/``. Servers are stopped at the end, also on errors, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
BENCH = ROOT / ".bench"
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = BENCH / "serving.json"
LOGS = BENCH / "serving-logs"
GOAL_RATE = 5.0  # modelyard's req/s over the best peer's, at least
GOAL_P99 = 1 / 3  # modelyard's p99 over the best peer's, below
MOSTLY_ERRORS = 0.5  # a share of failed requests above this is no throughput
BUSY_CORES = 0.25  # other processes' CPU use (cores) above this makes a measurement suspect

# Run under the dev virtualenv (it has rich and modelyard) even when started with another python.
in_dev_venv = Path(sys.prefix).resolve() == DEV_PYTHON.parent.parent.resolve()
if importlib.util.find_spec("rich") is None and DEV_PYTHON.exists() and not in_dev_venv:
    os.execv(DEV_PYTHON, [str(DEV_PYTHON), *sys.argv])
sys.path.insert(0, str(HERE))

from _serving_cpu import idle_check, watch  # noqa: E402
from _serving_envs import QUIET_ENV, SetupError, ensure_wrk  # noqa: E402
from _serving_peers import LABELS, PEERS, PREPARE, SYSTEMS, Context, Options  # noqa: E402
from _serving_report import busy_warnings, goal, report_table, settings_table  # noqa: E402
from _serving_servers import (  # noqa: E402
    free_port,
    log_tail,
    post,
    predicted_class,
    running,
    wait_ready,
    warm_up,
)
from _serving_wrk import Load, write_script  # noqa: E402
from _serving_wrk import run as run_wrk  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.text import Text  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark run."""

    duration_s: float
    warm_requests: int
    warm_load_s: float
    single_calls: int
    batch_calls: int
    samples: int = 50_000


FULL = Plan(duration_s=15, warm_requests=300, warm_load_s=3, single_calls=2_000, batch_calls=200)
QUICK = Plan(duration_s=5, warm_requests=100, warm_load_s=1, single_calls=500, batch_calls=50)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, help="seconds of load per server (15)")
    parser.add_argument(
        "--skip", action="append", default=[], choices=SYSTEMS, metavar="SYSTEM",
        help=f"leave a system out (repeatable): {', '.join(SYSTEMS)}",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="5 s of load, fewer calls")
    parser.add_argument(
        "--bentoml-max-latency-ms", type=int, help="BentoML's max_latency_ms (its default: 60000)"
    )
    parser.add_argument("--litserve-batch-timeout", type=float, default=0.005)
    parser.add_argument(
        "--litserve-fast-queue", action="store_true", help="LitServe's ZeroMQ queue"
    )
    parser.add_argument(
        "--modelyard-workers",
        type=int,
        default=1,
        help="modelyard serve --workers (LitServe runs an API server and a worker process)",
    )
    parser.add_argument(
        "--modelyard-max-wait-ms",
        type=float,
        default=0.0,
        help="the deployment's max_wait_ms (modelyard's default: 0, dispatch when free)",
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, metavar="SECONDS",
        help="before each system, wait up to this long for other processes to leave the CPU",
    )  # fmt: skip
    return parser.parse_args(argv)


def in_process(plan: Plan, out: Path) -> dict[str, Any]:
    """Train and save the model, and measure its in-process limits (dev virtualenv)."""
    python = str(DEV_PYTHON) if DEV_PYTHON.exists() else sys.executable
    argv = [python, str(HERE / "_serving_model.py"), f"--out={out}", f"--samples={plan.samples}"]
    argv += [f"--single={plan.single_calls}", f"--batches={plan.batch_calls}"]
    env = {**os.environ, **QUIET_ENV, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit(f"_serving_model.py failed with exit status {done.returncode}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(name: str, ctx: Context, wrk: str, plan: Plan, model: dict[str, Any]) -> dict[str, Any]:
    """Start one system, check its answer, warm it up, load it, stop it."""
    port = free_port()
    try:
        spec, info = PREPARE[name](ctx, port)
    except (RuntimeError, SetupError, OSError) as exc:
        return {"system": name, "error": f"setup failed: {exc}"}
    body = json.dumps({"inputs": [model["row"]]})
    script = write_script(ctx.work / "post.lua", body)
    log = LOGS / f"{name}.log"
    result: dict[str, Any] = {"system": name, **info, "url": spec.url, "payload": "inputs"}
    with running(spec, log) as process:
        ready_s, problem = wait_ready(spec, process, body.encode())
        result["ready_s"] = ready_s
        if problem is None:
            problem = check_answer(name, spec.port, spec.path, body.encode(), model, result)
        if problem is not None:
            return {**result, "error": problem, "log_tail": log_tail(log)}
        result["warm_up"] = warm_up(spec.port, spec.path, body.encode(), plan.warm_requests, 60)
        run_wrk(wrk, Load(plan.warm_load_s), script, spec.url)  # warm the batching path too
        with watch(process.pid) as cpu:
            load = run_wrk(wrk, Load(plan.duration_s), script, spec.url)
    (LOGS / f"{name}.wrk.txt").write_text(load.pop("text"))
    return {**result, "load": load, "cpu": cpu, "log": str(log.relative_to(ROOT))}


def check_answer(
    name: str, port: int, path: str, body: bytes, model: dict[str, Any], result: dict[str, Any]
) -> str | None:
    """None when the server predicts the in-process class for the row (echo: any 2xx)."""
    status, answer = post(port, path, body)
    result["sample_answer"] = answer[:300].decode(errors="replace")
    if name == "echo":
        result["verified"] = status == 200 and answer == body
        return None if result["verified"] else f"echo answered HTTP {status}"
    got, expected = predicted_class(answer), model["expected_class"]
    result["verified"] = status == 200 and got == expected
    if not result["verified"]:
        return f"answered HTTP {status} with class {got}, expected {expected}"
    return None


def run_all(args: argparse.Namespace, plan: Plan, console: Console) -> dict[str, Any]:
    wrk = ensure_wrk()
    busy = wait_quiet(args.wait_quiet, console)
    systems = [s for s in SYSTEMS if s not in args.skip]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        work = Path(folder)
        with console.status("Training the model and measuring it in-process..."):
            model = in_process(plan, work / "model")
        files = model["files"]
        pins = {"scikit-learn": model["sklearn"], "numpy": model["numpy"]}
        options = Options(
            args.bentoml_max_latency_ms,
            args.litserve_batch_timeout,
            args.litserve_fast_queue,
            args.modelyard_max_wait_ms,
            args.modelyard_workers,
        )
        ctx = Context(Path(files["model"]), Path(files["example"]), work, pins, options)
        results = {}
        for name in systems:
            if args.wait_quiet:
                wait_quiet(args.wait_quiet, console)
            with console.status(f"Measuring {LABELS[name]} ({plan.duration_s:g}s of load)..."):
                try:
                    results[name] = measure(name, ctx, wrk, plan, model)
                except Exception as exc:  # one system's failure is reported, the rest go on
                    results[name] = {"system": name, "error": f"{type(exc).__name__}: {exc}"}
            _say_done(console, results[name])
    return {"model": model, "systems": results, "options": asdict(options), "busy_before": busy}


def wait_quiet(limit_s: float, console: Console) -> float:
    """Wait up to ``limit_s`` seconds for other processes to leave the CPU; return the cores
    they still use (sampled each second), after a warning when that is too many."""
    busy = idle_check()
    deadline = time.monotonic() + limit_s
    with console.status("Waiting for the machine to be quiet..."):
        while busy > BUSY_CORES and time.monotonic() < deadline:
            busy = idle_check()
    if busy > BUSY_CORES:
        console.print(
            f"[yellow]Other processes keep {busy:.1f} cores busy: the results will be low "
            "and uneven (--wait-quiet SECONDS waits for a quiet machine).[/]"
        )
    return busy


def _say_done(console: Console, result: dict[str, Any]) -> None:
    label = LABELS[result["system"]]
    if "error" in result:
        console.print(f"[red]{label}: {result['error']}[/]")
        if result.get("log_tail"):
            console.print(result["log_tail"], markup=False, highlight=False)
        return
    load = result["load"]
    console.print(
        f"{label}: {load['ok_per_s']:,.0f} req/s, p99 {load['p99_ms']:,.1f} ms, "
        f"{load['non_2xx']:,} non-2xx"
    )


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # so that every server is stopped on the way out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.duration is not None:
        plan = Plan(**{**asdict(plan), "duration_s": args.duration})
    console = Console(width=None if sys.stdout.isatty() else 120)  # piped: no 80-column wrap
    signal.signal(signal.SIGTERM, _raise_interrupt)
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        measured = run_all(args, plan, console)
    except SetupError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    except KeyboardInterrupt:
        console.print("[red]Interrupted; every server was stopped.[/]")
        return 130
    outcome = goal(measured["systems"], GOAL_RATE, GOAL_P99, MOSTLY_ERRORS)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "load": "wrk -t2 -c32"}
    report = {"quick": args.quick, "plan": asdict(plan), "machine": machine, **measured}
    report["goal"] = {**outcome, "line": Text.from_markup(outcome["line"]).plain}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    console.print(report_table(report, PEERS, MOSTLY_ERRORS))
    console.print(settings_table(report))
    console.print(outcome["line"])
    for warning in busy_warnings(report["systems"], BUSY_CORES):
        console.print(f"[yellow]{warning}[/]")
    console.print(
        f"Raw results: {RESULTS.relative_to(ROOT)}; server logs: {LOGS.relative_to(ROOT)}/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
