"""modelyard's feature store vs Feast's, same data, same calls, side by side.

Usage: ``python benchmarks/features.py [--rows N] [--entities M] [--skip-feast]``
(defaults: 1,000,000 feature rows of 100,000 entities; ``--rows 200000 --entities 20000``
for a quick run).

The data (``_features_data.py``) is made once per size from a fixed seed under
``.bench/features/``: feature rows with ``user_id``, ``event_timestamp`` over 30 days,
``created`` and ``f0``..``f9``, and the entity rows to join. Each system then runs alone in
its own subprocess and fresh temporary folder, one after the other: Feast with the python
of ``.bench/feast`` (made with ``python3 -m venv`` and pip on first use; SQLite online
store, DuckDB offline store), modelyard with the dev virtualenv's (its default SQLite
online store). Each measures, in-process through its Python API: materializing the latest
row of every entity into the online store; online reads of 1 entity and of 100 entities x
10 features (p50, p99); the point-in-time join of the entity rows (median of
``--repeats``). Both print JSON; this script compares their values on a sample, prints a
table with the ratios against the goals and writes the raw results to
``.bench/features.json``. Exit status 1 when the values differ, 2 when a worker failed.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
BENCH = ROOT / ".bench"
DEV_PYTHON = ROOT / ".venv" / "bin" / "python"
FEAST_VENV = BENCH / "feast"
FEAST_PYTHON = FEAST_VENV / "bin" / "python"
FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"  # the DuckDB extra brings ibis for its offline store
DATA = BENCH / "features"
RESULTS = BENCH / "features.json"
LOGS = BENCH / "features-logs"
WORKER_TIMEOUT_S = 3_600

# Run under the dev virtualenv (it has rich and modelyard) even when started with another python.
in_dev_venv = Path(sys.prefix).resolve() == DEV_PYTHON.parent.parent.resolve()
if importlib.util.find_spec("rich") is None and DEV_PYTHON.exists() and not in_dev_venv:
    os.execv(DEV_PYTHON, [str(DEV_PYTHON), *sys.argv])
sys.path.insert(0, str(HERE))

import _features_data  # noqa: E402
from _features_compare import compare, total_mismatches  # noqa: E402
from _features_report import ratios, rows_for, times_table, values_table  # noqa: E402
from rich.console import Console  # noqa: E402

QUIET_ENV = {"FEAST_USAGE": "False", "DO_NOT_TRACK": "true", "PYTHONWARNINGS": "ignore"}


@dataclass(frozen=True)
class Calls:
    """How much each worker measures (both get the same)."""

    single_calls: int
    batch_calls: int
    batch_size: int
    sample: int
    repeats: int
    offline_store: str

    def argv(self, data: Path) -> list[str]:
        fields = self.__dataclass_fields__
        return [f"--data={data}", *(f"--{k.replace('_', '-')}={getattr(self, k)}" for k in fields)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="feature rows")
    parser.add_argument("--entities", type=int, default=100_000, help="distinct user_ids")
    parser.add_argument("--entity-rows", type=int, help="rows to join (default: --entities)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single-calls", type=int, default=2_000, help="1-entity online reads")
    parser.add_argument("--batch-calls", type=int, default=300, help="batched online reads")
    parser.add_argument("--batch-size", type=int, default=100, help="entities per batched read")
    parser.add_argument("--sample", type=int, default=1_000, help="rows/entities compared")
    parser.add_argument("--repeats", type=int, default=3, help="historical retrievals (median)")
    parser.add_argument(
        "--feast-offline-store", choices=("duckdb", "file"), default="duckdb",
        help="Feast's offline store: DuckDB, or its file store (dask)",
    )  # fmt: skip
    parser.add_argument("--skip-feast", action="store_true", help="measure modelyard only")
    return parser.parse_args(argv)


def ensure_feast(console: Console) -> Path:
    """The python of ``.bench/feast``, after making the virtualenv when Feast is missing."""
    if _feast_version() == FEAST_REQUIREMENT.split("==")[1]:
        return FEAST_PYTHON
    console.print(f"[bold]Installing {FEAST_REQUIREMENT} into {FEAST_VENV}[/] (once)...")
    BENCH.mkdir(exist_ok=True)
    python = shutil.which("python3") or sys.executable
    steps = [
        [python, "-m", "venv", str(FEAST_VENV)],
        [str(FEAST_PYTHON), "-m", "pip", "install", "--quiet", FEAST_REQUIREMENT],
    ]
    log_path = BENCH / "feast-install.log"
    with log_path.open("w") as log, console.status("pip install feast..."):
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"installing Feast failed; see {log_path}")
    return FEAST_PYTHON


def _feast_version() -> str | None:
    if not FEAST_PYTHON.exists():
        return None
    code = "import feast; print(feast.__version__)"
    done = subprocess.run(
        [str(FEAST_PYTHON), "-c", code],
        env={**os.environ, **QUIET_ENV},
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout else None


def make_data(console: Console, args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    entity_rows = args.entity_rows or args.entities
    folder = DATA / f"{args.rows}x{args.entities}-rows{entity_rows}-seed{args.seed}"
    with console.status(f"Making the data in {folder.relative_to(ROOT)}..."):
        start = time.perf_counter()
        made = _features_data.ensure(folder, args.rows, args.entities, entity_rows, args.seed)
    if made:
        console.print(
            f"Data made in {time.perf_counter() - start:.1f} s: {folder.relative_to(ROOT)}"
        )
    return folder, json.loads((folder / "meta.json").read_text())


def measure(console: Console, name: str, python: Path, argv: list[str]) -> dict[str, Any]:
    """Run one system's worker and return the JSON it printed; its stderr goes to a log."""
    script = HERE / f"_features_{name}.py"
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with console.status(f"Measuring {name}..."), log.open("w") as err:
        done = subprocess.run(
            [str(python), str(script), *argv],
            env={**os.environ, **QUIET_ENV},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=WORKER_TIMEOUT_S,
        )
    if done.returncode != 0:
        tail = log.read_text()[-3_000:]
        console.print(f"[red]{script.name} failed (exit status {done.returncode}):[/]")
        console.print(tail, markup=False, highlight=False)
        return {"system": name, "error": f"exit status {done.returncode}", "log_tail": tail}
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    console.print(f"{name}: done ({_summary(result)})")
    return result


def _summary(result: dict[str, Any]) -> str:
    parts = [f"{result['system']} {result['version']}", f"offline store {result['offline_store']}"]
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)  # piped: no 80-column wrap
    data, meta = make_data(console, args)
    calls = Calls(
        args.single_calls,
        args.batch_calls,
        args.batch_size,
        args.sample,
        args.repeats,
        args.feast_offline_store,
    )
    feast = None
    if not args.skip_feast:
        feast = measure(console, "feast", ensure_feast(console), calls.argv(data))
    python = DEV_PYTHON if DEV_PYTHON.exists() else Path(sys.executable)
    ours = measure(console, "modelyard", python, calls.argv(data))

    rows = rows_for(meta, args.batch_size)
    features = [f"f{i}" for i in range(meta["features"])]
    found = compare(feast, ours, features) if feast else {}
    report = {
        "data": {**meta, "folder": str(data.relative_to(ROOT))},
        "calls": calls.__dict__,
        "machine": {"cpus": os.cpu_count()},
        "goals": {f"{r.section}.{r.field}": r.goal for r in rows if r.goal},
        "ratios": ratios(rows, feast, ours) if feast else {},
        "values": found,
        "feast": feast,
        "modelyard": ours,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    console.print(times_table(rows, feast, ours))
    if feast and "error" not in feast and "error" not in ours:
        console.print(values_table(found))
        console.print(
            f"Feast {feast['version']} ({feast['offline_store']} offline store, "
            f"get_online_features(...).to_dict(), get_historical_features(...).to_df()); "
            f"modelyard {ours['version']} (get_historical_features returns a pyarrow.Table)."
        )
    console.print(
        f"Raw results: {RESULTS.relative_to(ROOT)}; worker logs: {LOGS.relative_to(ROOT)}/"
    )
    if found and total_mismatches(found):
        console.print("[red]The two systems disagree on the values.[/]")
        return 1
    return 2 if any("error" in r for r in (feast or {}, ours)) else 0


if __name__ == "__main__":
    sys.exit(main())
