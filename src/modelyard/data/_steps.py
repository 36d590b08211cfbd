"""Running the steps of a pipeline inside its DuckDB connection.

SQL steps become views (lazy: DuckDB streams them when a load reads them); Arrow
transforms run over record batches into a Parquet file in the run's folder, so a Python
step never holds more than one batch unless it asks for whole tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.data._duck import ident, literal
from modelyard.data._pipeline import Step
from modelyard.errors import ModelyardError, StepFailedError, ValidationError

__all__ = ["run_sql_step", "run_transform"]


def run_sql_step(con: duckdb.DuckDBPyConnection, step: Step, date: str | None) -> None:
    """Make ``step``'s SQL a view named after it; binding it here names the step in
    errors about unknown tables or columns."""
    args: dict[str, Any] = {name: ident(name) for name in step.inputs}
    if step.wants_ds:
        args["ds"] = literal(date)
    try:
        sql = step.fn(**args)
    except Exception as exc:
        raise StepFailedError(step.name, exc) from exc
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError(f"SQL step {step.name!r} returned {type(sql).__name__}, not SQL")
    try:  # creating the view binds it: unknown tables or columns fail here, by name
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ident(step.name)} AS {sql}")
    except duckdb.Error as exc:
        raise ValidationError(f"SQL step {step.name!r}: {exc}") from None


def run_transform(
    con: duckdb.DuckDBPyConnection, step: Step, folder: Path, date: str | None, batch_rows: int
) -> None:
    """Run an Arrow transform into a Parquet file in ``folder`` and make that a view named
    after the step: batch by batch (memory bounded by ``batch_rows``) unless the step
    asked for whole tables."""
    path = folder / f"step-{step.name}.parquet"
    extra: dict[str, Any] = {"ds": date} if step.wants_ds else {}
    first, *rest = step.inputs
    whole = {n: con.sql(f"SELECT * FROM {ident(n)}").to_arrow_table() for n in rest}
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None

    def emit(result: Any) -> None:
        nonlocal writer, schema
        table = _as_table(step.name, result)
        if writer is None:
            schema = table.schema
            writer = pq.ParquetWriter(path, schema)
        assert schema is not None
        try:
            writer.write_table(table.select(schema.names).cast(schema))
        except (KeyError, ValueError, pa.ArrowInvalid) as exc:
            raise ValidationError(
                f"transform {step.name!r} returned batches of different schemas: {exc}"
            ) from None

    try:
        if not step.batched:
            first_table = con.sql(f"SELECT * FROM {ident(first)}").to_arrow_table()
            emit(_call(step, {first: first_table, **whole, **extra}))
        else:
            reader = con.sql(f"SELECT * FROM {ident(first)}").to_arrow_reader(batch_rows)
            for batch in reader:
                emit(_call(step, {first: batch, **whole, **extra}))
            if writer is None:  # no rows: run once on an empty batch for the schema
                empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
                emit(_call(step, {first: empty, **whole, **extra}))
    finally:
        if writer is not None:
            writer.close()
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(step.name)} AS "
        f"SELECT * FROM read_parquet({literal(str(path))})"
    )


def _call(step: Step, args: dict[str, Any]) -> Any:
    try:
        return step.fn(**args)
    except ModelyardError:
        raise
    except Exception as exc:
        raise StepFailedError(step.name, exc) from exc


def _as_table(step: str, result: Any) -> pa.Table:
    if isinstance(result, pa.Table):
        return result
    if isinstance(result, pa.RecordBatch):
        return pa.Table.from_batches([result])
    raise ValidationError(
        f"transform {step!r} returned {type(result).__name__}; return a pyarrow Table or "
        "RecordBatch"
    )
