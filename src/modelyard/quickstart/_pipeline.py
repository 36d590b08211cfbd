"""The quickstart's data: raw CSV files and a live stream, loaded by a pipeline.

The generated transactions are split the way they arrive in production: most as daily CSV
exports in ``data/raw/``, the most recent ones as events on the workspace's embedded
stream (a Redis Stream once ``[data] stream_url`` points at Redis). A few raw rows are
broken on purpose (a negative amount, an unknown channel) so that the quarantine shows.
The pipeline module is written into the workspace, where users edit it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from modelyard._workspace import Workspace
from modelyard.data import open_stream

__all__ = ["PIPELINE", "STREAM", "write_pipeline", "write_sources"]

PIPELINE = "transactions"
STREAM = "transactions"
_LIVE_FRACTION = 0.02
_BROKEN = 3  # rows per kind of breakage

PIPELINE_MODULE = '''\
"""The quickstart pipeline: daily CSV exports and the live stream -> checks -> transactions.

Run it with `modelyard data run transactions`; see its versions with `modelyard data show
transactions`. Edit freely: this file is yours.
"""

from modelyard.data import Pipeline, checks, csv_source, stream_source

COLUMNS = {
    "transaction_id": "VARCHAR",
    "event_timestamp": "TIMESTAMPTZ",
    "user_id": "BIGINT",
    "merchant_id": "BIGINT",
    "merchant_category": "VARCHAR",
    "amount": "DOUBLE",
    "country": "VARCHAR",
    "home_country": "VARCHAR",
    "channel": "VARCHAR",
    "is_fraud": "TINYINT",
}

transactions = Pipeline(
    "transactions",
    schedule="*/15 * * * *",
    description="Card transactions from the daily exports and the live stream.",
)
transactions.source("exports", csv_source("data/raw/*.csv", columns=COLUMNS))
transactions.source("live", stream_source("transactions", columns=COLUMNS))


@transactions.sql
def cleaned(exports, live):
    columns = ", ".join(COLUMNS)
    return f"""
        SELECT * REPLACE (upper(country) AS country, upper(home_country) AS home_country)
        FROM (SELECT {columns} FROM {exports} UNION ALL SELECT {columns} FROM {live})
    """


transactions.load(
    "transactions",
    cleaned,
    checks=[
        checks.schema(COLUMNS),
        checks.not_null("transaction_id", "event_timestamp", "user_id", "amount"),
        checks.unique("transaction_id"),
        checks.in_range("amount", min=0, max=100_000, policy="quarantine"),
        checks.allowed_values("channel", ["pos", "online", "atm"], policy="quarantine"),
        checks.row_count(min=1),
        checks.drift(policy="warn"),
    ],
)
'''


def write_pipeline(workspace: Workspace) -> Path:
    """Write the pipeline module into the workspace's pipelines folder."""
    folder = workspace.pipelines.folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PIPELINE}.py"
    path.write_text(PIPELINE_MODULE)
    return path


def write_sources(workspace: Workspace, raw: pa.Table) -> tuple[int, int]:
    """Daily CSV exports of the older rows, the newest as stream events; returns the
    number of files and of events."""
    raw = raw.sort_by("event_timestamp")
    live_rows = max(1, int(raw.num_rows * _LIVE_FRACTION))
    exports, live = raw.slice(0, raw.num_rows - live_rows), raw.slice(raw.num_rows - live_rows)
    exports = _break_some(exports)
    folder = workspace.path / "data" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    days = pc.strftime(exports.column("event_timestamp"), format="%Y-%m-%d")
    files = 0
    for day in pc.unique(days).to_pylist():
        pcsv.write_csv(exports.filter(pc.equal(days, day)), folder / f"transactions-{day}.csv")
        files += 1
    events = live.to_pylist()
    for event in events:
        event["event_timestamp"] = event["event_timestamp"].isoformat()
    with open_stream(STREAM, db=workspace.db, settings=workspace.settings.data) as stream:
        stream.append(events)
    return files, len(events)


def _break_some(table: pa.Table) -> pa.Table:
    """Make a few rows fail the pipeline's quarantine checks, as real exports do."""
    amount = table.column("amount").to_numpy().copy()
    channel = table.column("channel").to_pylist()
    step = max(1, table.num_rows // (2 * _BROKEN + 1))
    for i in range(_BROKEN):
        amount[step * (i + 1)] = -amount[step * (i + 1)]
        channel[step * (_BROKEN + i + 1)] = "fax"
    names = table.column_names
    table = table.set_column(names.index("amount"), "amount", pa.array(amount))
    return table.set_column(names.index("channel"), "channel", pa.array(channel))
