"""One contender of the pipelines benchmark, run in its own process so that its peak
memory is its own. Prints JSON: seconds, rows in, rows out, peak RSS in MiB.

Usage: ``python benchmarks/_pipelines_worker.py SYSTEM CSV OUT_DIR`` where SYSTEM is
``pandas``, ``duckdb`` or ``modelyard``. All three do the same work: read the CSV with
types, drop invalid rows, normalise and derive columns, write Parquet. modelyard does it
as a pipeline, so it also hashes the input, runs its checks, computes column statistics
and commits a dataset version.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

COLUMNS = {
    "transaction_id": "BIGINT",
    "ts": "TIMESTAMP",
    "user_id": "BIGINT",
    "merchant": "VARCHAR",
    "category": "VARCHAR",
    "amount": "DOUBLE",
    "country": "VARCHAR",
    "is_fraud": "INTEGER",
}

SQL = """
SELECT transaction_id, ts, user_id, merchant, category, amount,
       upper(country) AS country, hour(ts) AS hour, ln(1 + amount) AS amount_log,
       is_fraud::BOOLEAN AS is_fraud
FROM {src}
WHERE amount > 0 AND user_id IS NOT NULL
"""


def run_pandas(csv: Path, out: Path) -> int:
    frame = pd.read_csv(
        csv,
        dtype={
            "transaction_id": "int64",
            "user_id": "int64",
            "merchant": "string",
            "category": "string",
            "amount": "float64",
            "country": "string",
            "is_fraud": "int32",
        },
        parse_dates=["ts"],
    )
    frame = frame[(frame["amount"] > 0) & frame["user_id"].notna()]
    frame = frame.assign(
        country=frame["country"].str.upper(),
        hour=frame["ts"].dt.hour,
        amount_log=np.log1p(frame["amount"]),
        is_fraud=frame["is_fraud"].astype(bool),
    )
    frame.to_parquet(out / "pandas.parquet", index=False)
    return len(frame)


def run_duckdb(csv: Path, out: Path) -> int:
    con = duckdb.connect()
    columns = ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items())
    src = f"read_csv('{csv}', header=true, columns={{{columns}}})"
    target = out / "duckdb.parquet"
    con.execute(f"COPY ({SQL.format(src=src)}) TO '{target}' (FORMAT parquet)")
    row = con.execute(f"SELECT count(*) FROM '{target}'").fetchone()
    return int(row[0]) if row else 0


def prepare_modelyard(csv: Path, out: Path) -> Callable[[], int]:
    """Make the workspace and the pipeline before the clock starts (a user has both)."""
    init_workspace(out / "ws")
    pipeline = Pipeline("bench")
    pipeline.source("raw", csv_source(str(csv), columns=COLUMNS))

    @pipeline.sql
    def cleaned(raw: str) -> str:
        return SQL.format(src=raw)

    pipeline.load(
        "transactions",
        "cleaned",
        checks=[
            checks.not_null("transaction_id", "ts", "amount"),
            checks.in_range("amount", min=0, max=100_000),
            checks.allowed_values("country", ["US", "GB", "DE", "FR", "NL", "ES"]),
        ],
    )
    ws = Workspace.open(out / "ws")

    def run() -> int:
        done = ws.pipelines.run(pipeline)
        ws.close()
        return int(done.outputs[0]["rows"])

    return run


def main() -> None:
    # imports are not part of the measurement: each contender imports what it needs first
    global duckdb, np, pd, Workspace, init_workspace, Pipeline, checks, csv_source
    system, csv, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if system == "pandas":
        import numpy as np
        import pandas as pd
    elif system == "duckdb":
        import duckdb
    else:
        from modelyard._workspace import Workspace, init_workspace
        from modelyard.data import Pipeline, checks, csv_source
    out.mkdir(parents=True, exist_ok=True)
    prepare = {
        "pandas": lambda csv, out: lambda: run_pandas(csv, out),
        "duckdb": lambda csv, out: lambda: run_duckdb(csv, out),
        "modelyard": prepare_modelyard,
    }[system]
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = prepare(csv, Path(tmp))
        started = time.perf_counter()
        rows_out = work()
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"system": system, "seconds": seconds, "rows_out": rows_out, "peak_mib": peak_mib}
        )
    )


if __name__ == "__main__":
    main()
