"""modelyard's tracking vs MLflow's SQLite tracking store, same workload, side by side.

Usage: ``python benchmarks/tracking.py [--quick] [--skip-mlflow]`` (``make bench``).

Each system runs in its own subprocess and its own fresh temporary folder, one after the
other: MLflow with the python of ``.bench/mlflow`` (created with MLflow on first use),
modelyard with the dev virtualenv's. Both print JSON; this script prints a table of the two,
the ratio (above 1 always means modelyard is better) against the 10x goal, and writes the
raw results to ``.bench/tracking.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
BENCH = ROOT / ".bench"
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
MLFLOW_VENV = BENCH / "mlflow"
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"
RESULTS = BENCH / "tracking.json"
GOAL = 10.0
FILTER = "params.p0 = 'v3' and metrics.m > 0.5"  # as in both halves

# Run under the dev virtualenv (it has rich and modelyard) even when started with another python.
in_dev_venv = Path(sys.prefix).resolve() == DEV_PYTHON.parent.parent.resolve()
if importlib.util.find_spec("rich") is None and DEV_PYTHON.exists() and not in_dev_venv:
    os.execv(DEV_PYTHON, [str(DEV_PYTHON), *sys.argv])

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

QUIET_ENV = {
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "PYTHONWARNINGS": "ignore",
}


@dataclass(frozen=True)
class Workload:
    """The sizes one system is run with (MLflow gets fewer metric calls: it is that slow)."""

    single: int
    batch_calls: int
    batch_size: int = 1_000
    runs: int = 300
    search_runs: int = 1_000
    repeats: int = 21  # median of 21: one cold call (statement compilation) cannot move it
    seed: int = 0

    def argv(self) -> list[str]:
        return [f"--{k.replace('_', '-')}={v}" for k, v in asdict(self).items()]


FULL = {
    "mlflow": Workload(single=2_000, batch_calls=20),
    "modelyard": Workload(single=200_000, batch_calls=200),
}
QUICK = {
    "mlflow": Workload(single=200, batch_calls=3, runs=30, search_runs=100, repeats=3),
    "modelyard": Workload(single=20_000, batch_calls=20, runs=30, search_runs=100, repeats=3),
}


@dataclass(frozen=True)
class Row:
    """One line of the table: where its figure is in the JSON; a rate (higher is better) or
    a time in seconds (lower is better, shown in milliseconds)."""

    label: str
    section: str
    field: str
    is_rate: bool

    def value(self, results: dict[str, Any]) -> float:
        return float(results[self.section][self.field])

    def shown(self, results: dict[str, Any]) -> str:
        value = self.value(results)
        return f"{value:,.0f}" if self.is_rate else f"{value * 1000:,.1f}"


ROWS = (
    Row("single metric calls (values/s)", "single_metric", "per_s", True),
    Row("batched metrics (values/s)", "batch_metric", "per_s", True),
    Row("runs created (runs/s)", "runs", "per_s", True),
    Row("search: list all (ms)", "search", "all_s", False),
    Row("search: filter+order (ms)", "search", "filtered_s", False),
)


def ensure_mlflow(console: Console) -> Path:
    """The MLflow virtualenv's python, after creating the virtualenv if it is missing."""
    if MLFLOW_PYTHON.exists() and _has_mlflow():
        return MLFLOW_PYTHON
    console.print(f"[bold]Installing MLflow into {MLFLOW_VENV}[/] (once)...")
    BENCH.mkdir(exist_ok=True)
    uv = DEV_PYTHON.parent / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    if uv_path:
        steps = [
            [uv_path, "venv", "--allow-existing", "--python", sys.executable, str(MLFLOW_VENV)],
            [uv_path, "pip", "install", "--python", str(MLFLOW_PYTHON), "mlflow"],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(MLFLOW_VENV)],
            [str(MLFLOW_PYTHON), "-m", "pip", "install", "--quiet", "mlflow"],
        ]
    with (BENCH / "mlflow-install.log").open("w") as log:
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"installing MLflow failed; see {BENCH / 'mlflow-install.log'}")
    return MLFLOW_PYTHON


def _has_mlflow() -> bool:
    check = [str(MLFLOW_PYTHON), "-c", "import mlflow"]
    env = {**os.environ, **QUIET_ENV}
    return subprocess.run(check, env=env, capture_output=True).returncode == 0


def measure(console: Console, name: str, python: Path | str, workload: Workload) -> dict[str, Any]:
    """Run one system's half and return the JSON it printed."""
    script = HERE / f"_{name}_tracking.py"
    with console.status(f"Measuring {name} ({workload})..."):
        done = subprocess.run(
            [str(python), str(script), *workload.argv()],
            env={**os.environ, **QUIET_ENV},
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit(f"{script.name} failed with exit status {done.returncode}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return dict(json.loads(lines[-1]))


def ratio(row: Row, mlflow: dict[str, Any], modelyard: dict[str, Any]) -> float:
    """How many times better modelyard is on ``row`` (above 1: modelyard wins)."""
    ours, theirs = row.value(modelyard), row.value(mlflow)
    return ours / theirs if row.is_rate else theirs / ours


def checks(mlflow: dict[str, Any], modelyard: dict[str, Any]) -> dict[str, bool]:
    """Both systems found the same runs (the data is generated from the same seed)."""
    a, b = mlflow["search"], modelyard["search"]
    return {
        "same_list_count": a["all_count"] == b["all_count"],
        "same_filtered_count": a["filtered_count"] == b["filtered_count"],
        "same_filtered_sum": abs(a["filtered_sum_m"] - b["filtered_sum_m"]) < 1e-6,
        "both_sorted": a["filtered_sorted"] and b["filtered_sorted"],
    }


def table(mlflow: dict[str, Any] | None, modelyard: dict[str, Any]) -> Table:
    out = Table(title="Experiment tracking: modelyard vs MLflow (SQLite, local)")
    for header in ("metric", "MLflow", "modelyard", "ratio", f"goal ≥{GOAL:g}x"):
        out.add_column(header, justify="left" if header == "metric" else "right")
    for row in ROWS:
        ours = row.shown(modelyard)
        if mlflow is None:
            out.add_row(row.label, "skipped", ours, "-", "-")
            continue
        times = ratio(row, mlflow, modelyard)
        mark = "[green]pass[/]" if times >= GOAL else "[red]FAIL[/]"
        out.add_row(row.label, row.shown(mlflow), ours, f"{times:,.1f}x", mark)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure modelyard only")
    args = parser.parse_args(argv)
    console = Console()
    workloads = QUICK if args.quick else FULL
    mlflow = None
    if not args.skip_mlflow:
        mlflow = measure(console, "mlflow", ensure_mlflow(console), workloads["mlflow"])
    python = DEV_PYTHON if DEV_PYTHON.exists() else Path(sys.executable)
    modelyard = measure(console, "modelyard", python, workloads["modelyard"])

    found = checks(mlflow, modelyard) if mlflow else {}
    report = {
        "quick": args.quick,
        "goal": GOAL,
        "workloads": {name: asdict(w) for name, w in workloads.items()},
        "mlflow": mlflow,
        "modelyard": modelyard,
        "ratios": {f"{r.section}.{r.field}": ratio(r, mlflow, modelyard) for r in ROWS}
        if mlflow
        else {},
        "checks": found,
    }
    BENCH.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    console.print(table(mlflow, modelyard))
    search = modelyard["search"]
    console.print(
        f"Search over {search['runs']:,} runs; filter [italic]{FILTER}[/] found "
        f"{search['filtered_count']} (modelyard)"
        + (f" and {mlflow['search']['filtered_count']} (MLflow)." if mlflow else ".")
    )
    if mlflow:
        console.print(
            f"MLflow {mlflow['version']}; medians of {workloads['mlflow'].repeats} searches."
        )
    console.print(f"Raw results: {RESULTS.relative_to(ROOT)}")
    if found and not all(found.values()):
        console.print(f"[red]The two systems disagree on the search results: {found}[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
