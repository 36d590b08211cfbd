"""Drift detection: modelyard vs Evidently's DataDriftPreset, same data, side by side.

Usage: ``python benchmarks/monitoring.py [--rows N ...] [--skip-evidently]
[--evidently-timeout S]`` (defaults: 100,000 and 1,000,000 rows a side x 25 columns).

The data (``_monitoring_data.py``, NumPy only) is made from a fixed seed inside each
worker: a reference and a current window of the same size, 25 numeric and categorical
columns, 12 of them shifted. Each system runs alone in its own subprocess per size, so its
peak memory (``ru_maxrss``) is its own: Evidently with the python of ``.bench/evidently``
(made with ``python3 -m venv`` and pip on first use), modelyard with the dev
virtualenv's. Evidently times ``Report([DataDriftPreset()]).run``; modelyard times
``build_profile`` plus a stored-profile round trip (once per model) and ``detect_drift``
in its Evidently-compatible mode, which must give the same verdict for every column.
Both load their libraries before the clock starts; each time is the best of
``--repeats`` runs (3; Evidently runs once above 100,000 rows, where a run takes minutes).

Prints a table with the times, peak memory, ratios and verdict agreement against the
goal (at least 10x faster, less memory) and writes the raw results to
``.bench/monitoring.json``. Exit status 1 when the verdicts differ, 2 when a worker failed
(an Evidently run over ``--evidently-timeout`` is reported, not a failure).

To refresh the verdicts the tests compare with (no virtualenv needed there):
``.bench/evidently/bin/python benchmarks/_monitoring_evidently.py --rows 500 --rows 100000
--fixture tests/monitoring/evidently_verdicts.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
BENCH = ROOT / ".bench"
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
EVIDENTLY_VENV = BENCH / "evidently"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
# evidently 0.7.23 imports a pandas internal that pandas 3 removed
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3"]
RESULTS = BENCH / "monitoring.json"
LOGS = BENCH / "monitoring-logs"
GOAL_SPEEDUP = 10.0
EVIDENTLY_REPEAT_ROWS = 100_000  # above this Evidently takes minutes a run: it runs once
QUIET_ENV = {"DO_NOT_TRACK": "true", "EVIDENTLY_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore"}

in_dev_venv = Path(sys.prefix).resolve() == DEV_PYTHON.parent.parent.resolve()
if importlib.util.find_spec("rich") is None and DEV_PYTHON.exists() and not in_dev_venv:
    os.execv(DEV_PYTHON, [str(DEV_PYTHON), *sys.argv])

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows a side (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs per size, the best kept (Evidently: "
        f"only up to {EVIDENTLY_REPEAT_ROWS:,} rows, above it one run)",
    )
    parser.add_argument("--skip-evidently", action="store_true", help="measure modelyard only")
    parser.add_argument(
        "--evidently-timeout", type=float, default=300.0, help="seconds per Evidently run"
    )
    args = parser.parse_args(argv)
    args.rows = args.rows or [100_000, 1_000_000]
    return args


def ensure_evidently(console: Console) -> Path:
    """The python of ``.bench/evidently``, after making the virtualenv when it is missing."""
    if _evidently_version() == EVIDENTLY_REQUIREMENTS[0].split("==")[1]:
        return EVIDENTLY_PYTHON
    console.print(f"[bold]Installing {' '.join(EVIDENTLY_REQUIREMENTS)} into {EVIDENTLY_VENV}[/]")
    BENCH.mkdir(exist_ok=True)
    python = shutil.which("python3") or sys.executable
    steps = [
        [python, "-m", "venv", str(EVIDENTLY_VENV)],
        [str(EVIDENTLY_PYTHON), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS],
    ]
    log_path = BENCH / "evidently-install.log"
    with log_path.open("w") as log, console.status("pip install evidently..."):
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"installing Evidently failed; see {log_path}")
    return EVIDENTLY_PYTHON


def _evidently_version() -> str | None:
    if not EVIDENTLY_PYTHON.exists():
        return None
    code = "import evidently; print(evidently.__version__)"
    done = subprocess.run(
        [str(EVIDENTLY_PYTHON), "-c", code],
        env={**os.environ, **QUIET_ENV},
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout else None


def measure(
    console: Console, name: str, python: Path, rows: int, args: argparse.Namespace, timeout: float
) -> dict[str, Any]:
    """One worker run at one size: its JSON run, or an ``error``/``timed_out`` entry."""
    script = HERE / f"_monitoring_{name}.py"
    LOGS.mkdir(parents=True, exist_ok=True)
    repeats = 1 if name == "evidently" and rows > EVIDENTLY_REPEAT_ROWS else args.repeats
    argv = [f"--rows={rows}", f"--seed={args.seed}", f"--repeats={repeats}"]
    log = LOGS / f"{name}-{rows}.log"
    start = time.perf_counter()
    with console.status(f"{name}: {rows:,} rows..."), log.open("w") as err:
        try:
            done = subprocess.run(
                [str(python), str(script), *argv],
                env={**os.environ, **QUIET_ENV},
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            console.print(f"{name}, {rows:,} rows: did not finish in {timeout:.0f} s")
            return {"rows": rows, "timed_out": timeout}
    if done.returncode != 0:
        tail = log.read_text()[-3_000:]
        console.print(f"[red]{script.name} failed (exit status {done.returncode}):[/]")
        console.print(tail, markup=False, highlight=False)
        return {"rows": rows, "error": f"exit status {done.returncode}", "log_tail": tail}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run = dict(result["runs"][0])
    run["version"] = result["version"]
    console.print(f"{name} {run['version']}, {rows:,} rows: {time.perf_counter() - start:.1f} s")
    return run


def agreement(evidently: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any] | None:
    """Which columns get the same method and verdict from both (None: nothing to compare)."""
    if "columns" not in evidently or "columns" not in ours:
        return None
    theirs, mine = evidently["columns"], ours["columns"]
    differ = {
        name: {"evidently": theirs.get(name), "modelyard": mine.get(name)}
        for name in sorted(set(theirs) | set(mine))
        if name not in theirs
        or name not in mine
        or (theirs[name]["method"], theirs[name]["drifted"])
        != (mine[name]["method"], mine[name]["drifted"])
    }
    return {
        "columns": len(set(theirs) | set(mine)),
        "same": len(set(theirs) | set(mine)) - len(differ),
        "dataset_same": evidently["dataset"]["drifted"] == ours["dataset"]["drifted"],
        "differ": differ,
    }


def _seconds(run: dict[str, Any], key: str = "seconds") -> str:
    if "timed_out" in run:
        return f"> {run['timed_out']:.0f}"
    if "error" in run:
        return "error"
    return f"{run[key]:,.2f}" if key in run else "-"


def _ratio(theirs: float | None, mine: float | None, *, lower_bound: bool = False) -> str:
    if not theirs or not mine:
        return "-"
    value = theirs / mine
    return f"{'> ' if lower_bound else ''}{value:,.1f}x"


def table(pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> Table:
    out = Table(title="Drift, 25 columns: modelyard vs Evidently DataDriftPreset")
    headers = [
        "rows a side",
        "Evidently (s)",
        "modelyard profile+check (s)",
        "check only (s)",
        "speedup",
        f"goal ≥{GOAL_SPEEDUP:g}x",
        "Evidently peak (MiB)",
        "modelyard peak (MiB)",
        "verdicts",
    ]
    for header in headers:
        out.add_column(header, justify="right")
    for ours, theirs in pairs:
        theirs = theirs or {}
        timed_out = "timed_out" in theirs
        their_s = theirs.get("timed_out") if timed_out else theirs.get("seconds")
        speedup = _ratio(their_s, ours.get("seconds"), lower_bound=timed_out)
        passed = bool(their_s and ours.get("seconds") and their_s / ours["seconds"] >= GOAL_SPEEDUP)
        found = agreement(theirs, ours)
        out.add_row(
            f"{ours['rows']:,}",
            _seconds(theirs) if theirs else "skipped",
            _seconds(ours),
            _seconds(ours, "check_seconds"),
            speedup,
            ("[green]pass[/]" if passed else "[red]FAIL[/]") if their_s else "-",
            f"{theirs['peak_rss_mib']:,.0f}" if "peak_rss_mib" in theirs else "-",
            f"{ours['peak_rss_mib']:,.0f}" if "peak_rss_mib" in ours else "-",
            f"{found['same']}/{found['columns']} same" if found else "-",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    evidently_python = None if args.skip_evidently else ensure_evidently(console)
    python = DEV_PYTHON if DEV_PYTHON.exists() else Path(sys.executable)
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for rows in args.rows:
        ours = measure(console, "modelyard", python, rows, args, 3_600)
        theirs = None
        if evidently_python is not None:
            limit = args.evidently_timeout
            theirs = measure(console, "evidently", evidently_python, rows, args, limit)
        pairs.append((ours, theirs))
    report = {
        "machine": {"cpus": os.cpu_count()},
        "goal_speedup": GOAL_SPEEDUP,
        "runs": [
            {"modelyard": o, "evidently": t, "agreement": agreement(t or {}, o)} for o, t in pairs
        ],
    }
    BENCH.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    console.print(table(pairs))
    console.print(
        "modelyard: build_profile + to_bytes/from_bytes + detect_drift(evidently_compat=True); "
        "check only: detect_drift with the stored profile. Peak memory: ru_maxrss of each "
        "worker process (data, libraries and the run)."
    )
    for ours, theirs in pairs:
        if "default_check_seconds" in ours:
            default = ours["default_columns"]
            flagged = [c for c, v in default.items() if v["drifted"]]
            console.print(
                f"{ours['rows']:,} rows, default mode (contingency chi-square): check "
                f"{ours['default_check_seconds']:.2f} s, {len(flagged)} columns drifted; "
                f"profile {ours['profile_bytes'] / 1024:,.0f} KiB; worker RSS before the "
                f"run {ours['rss_before_mib']:,.0f} MiB"
                + (
                    f" (Evidently's {theirs['rss_before_mib']:,.0f} MiB)"
                    if theirs and "rss_before_mib" in theirs
                    else ""
                )
            )
    console.print(f"Raw results: {RESULTS.relative_to(ROOT)}; logs: {LOGS.relative_to(ROOT)}/")
    found = [agreement(t or {}, o) for o, t in pairs]
    if any(f and (f["differ"] or not f["dataset_same"]) for f in found):
        console.print("[red]Evidently and modelyard's compatible mode disagree:[/]")
        for f in found:
            if f and f["differ"]:
                console.print(json.dumps(f["differ"], indent=1))
        return 1
    failed = any("error" in o for o, _ in pairs) or any(t and "error" in t for _, t in pairs)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
