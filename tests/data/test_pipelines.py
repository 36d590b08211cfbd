"""Pipeline runs end to end on real CSV and Parquet files, DuckDB and both metadata stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from modelyard import Workspace
from modelyard.data import (
    Extract,
    Pipeline,
    RunStatus,
    Source,
    SourceContext,
    checks,
    csv_source,
    dataset_source,
    parquet_source,
)
from modelyard.errors import (
    CheckFailedError,
    DatasetNotFoundError,
    PipelineDefinitionError,
    SourceDataError,
    SourceNotFoundError,
    SourceUnavailableError,
    StepFailedError,
    ValidationError,
)

HEADER = "id,amount,country"
COLUMNS = {"id": "BIGINT", "amount": "DOUBLE", "country": "VARCHAR"}


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def rows(start: int, count: int) -> list[str]:
    return [f"{i},{i * 1.5},{'us' if i % 2 else 'gb'}" for i in range(start, start + count)]


def tx_pipeline(node: str = "cleaned", **load: Any) -> Pipeline:
    pipeline = Pipeline("tx")
    pipeline.source("raw", csv_source("raw/*.csv", columns=COLUMNS))

    @pipeline.sql
    def cleaned(raw: str) -> str:
        return f"SELECT id, amount, upper(country) AS country FROM {raw} WHERE amount >= 0"

    pipeline.load("transactions", node, **load)
    return pipeline


def ids(ws: Workspace, ref: str = "transactions") -> list[int]:
    return sorted(ws.datasets.read(ref).column("id").to_pylist())


def test_a_run_loads_a_version_with_statistics_and_file_lineage(data_ws: Workspace) -> None:
    source = write_csv(data_ws.path / "raw" / "a.csv", rows(0, 50))

    run = data_ws.pipelines.run(tx_pipeline())

    assert run.status is RunStatus.SUCCEEDED
    version = data_ws.datasets.get("transactions")
    assert (version.number, version.rows, version.run_id) == (1, 50, run.id)
    assert dict(version.schema) == {"id": "BIGINT", "amount": "DOUBLE", "country": "VARCHAR"}
    amount = version.column("amount")
    assert (amount.count, amount.nulls, amount.min, amount.max) == (50, 0, 0.0, 73.5)
    assert version.column("country").histogram == {"values": ["GB", "US"], "counts": [25, 25]}
    assert run.outputs[0] == {"dataset": "transactions", "kind": "data", "version": version.id,
                              "number": 1, "rows_added": 50, "rows": 50}  # fmt: skip
    (files,) = run.inputs
    assert files["files"][0]["uri"] == str(source)
    assert files["files"][0]["digest"].startswith("sha256:")
    assert run.code["module"] is None


def test_rerunning_unchanged_inputs_makes_no_version(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 20))
    pipeline = tx_pipeline()
    first = data_ws.pipelines.run(pipeline)

    again = data_ws.pipelines.run(pipeline)

    assert again.status is RunStatus.SKIPPED
    assert again.outputs == []
    assert again.inputs[0]["skipped"] == 1
    assert [v.id for v in data_ws.datasets.versions("transactions")] == [
        first.outputs[0]["version"]
    ]


def test_a_new_file_adds_its_rows_exactly_once(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 20))
    pipeline = tx_pipeline()
    data_ws.pipelines.run(pipeline)
    write_csv(data_ws.path / "raw" / "b.csv", rows(20, 10))
    write_csv(data_ws.path / "raw" / "b-copy.csv", rows(20, 10))  # same bytes: read once

    run = data_ws.pipelines.run(pipeline)

    v1, v2 = data_ws.datasets.versions("transactions")
    assert ids(data_ws) == list(range(30))
    assert (v2.rows, v2.parent_id, v2.parts[:1]) == (30, v1.id, v1.parts)
    assert run.outputs[0]["rows_added"] == 10
    assert data_ws.pipelines.run(pipeline).status is RunStatus.SKIPPED


def test_replace_mode_with_a_full_source_rereads_every_file_when_one_changes(
    data_ws: Workspace,
) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 5))
    write_csv(data_ws.path / "raw" / "b.csv", rows(5, 5))
    pipeline = Pipeline("snapshot")
    pipeline.source("raw", csv_source("raw/*.csv", columns=COLUMNS, incremental=False))
    pipeline.load("snapshot", "raw", mode="replace")
    data_ws.pipelines.run(pipeline)
    assert data_ws.pipelines.run(pipeline).status is RunStatus.SKIPPED

    write_csv(data_ws.path / "raw" / "b.csv", rows(5, 3))
    data_ws.pipelines.run(pipeline)

    assert ids(data_ws, "snapshot") == list(range(8))
    assert data_ws.datasets.get("snapshot").number == 2


def test_a_malformed_csv_line_names_file_and_line_and_writes_nothing(data_ws: Workspace) -> None:
    bad = write_csv(data_ws.path / "raw" / "a.csv", [*rows(0, 3), "3,4.5,us,extra", *rows(4, 2)])
    pipeline = tx_pipeline()

    with pytest.raises(SourceDataError) as caught:
        data_ws.pipelines.run(pipeline)

    assert f"{bad}:5" in str(caught.value)
    assert "3,4.5,us,extra" in str(caught.value)
    assert data_ws.datasets.latest("transactions") is None
    (failed,) = data_ws.pipelines.runs("tx")
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "source_data_error"
    write_csv(bad, rows(0, 6))  # fixed: the next run loads it
    assert data_ws.pipelines.run(pipeline).outputs[0]["rows"] == 6


def test_a_value_of_the_wrong_type_names_the_column_and_line(data_ws: Workspace) -> None:
    bad = write_csv(data_ws.path / "raw" / "a.csv", [*rows(0, 2), "2,lots,us"])

    with pytest.raises(SourceDataError) as caught:
        data_ws.pipelines.run(tx_pipeline())

    message = str(caught.value)
    assert f"{bad}:4" in message
    assert "'amount'" in message and "lots" in message
    assert data_ws.datasets.latest("transactions") is None


def test_a_missing_file_is_reported(data_ws: Workspace) -> None:
    with pytest.raises(SourceNotFoundError, match=r"raw/\*\.csv"):
        data_ws.pipelines.run(tx_pipeline())
    with pytest.raises(DatasetNotFoundError):
        data_ws.datasets.get("transactions")


def test_a_failing_check_under_fail_policy_writes_nothing(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", [*rows(0, 9), "9,,us"])
    pipeline = tx_pipeline("raw", checks=[checks.not_null("amount")])

    with pytest.raises(CheckFailedError) as caught:
        data_ws.pipelines.run(pipeline)

    assert "amount" in str(caught.value)
    assert data_ws.datasets.latest("transactions") is None
    (failed,) = data_ws.pipelines.runs("tx")
    (result,) = failed.report["transactions"]
    assert (result["passed"], result["failed_rows"], result["rows"]) == (False, 1, 10)
    assert failed.report == caught.value.report


def test_quarantine_loads_good_rows_and_keeps_bad_ones_with_their_reason(
    data_ws: Workspace,
) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", [*rows(0, 8), "8,1e9,us", "9,2.0,zz"])
    pipeline = tx_pipeline(
        checks=[
            checks.in_range("amount", min=0, max=1000, policy="quarantine"),
            checks.allowed_values("country", ["US", "GB"], policy="quarantine"),
        ]
    )

    run = data_ws.pipelines.run(pipeline)

    assert ids(data_ws) == list(range(8))
    bad = data_ws.datasets.read("transactions_quarantine").sort_by("id")
    assert bad.column("id").to_pylist() == [8, 9]
    reasons = bad.column("_reason").to_pylist()
    assert "amount" in reasons[0] and "country" in reasons[1]
    assert set(bad.column("_run_id").to_pylist()) == {run.id}
    kinds = {o["dataset"]: o["kind"] for o in run.outputs}
    assert kinds == {"transactions": "data", "transactions_quarantine": "quarantine"}


def test_warn_policy_loads_everything_and_reports(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", [*rows(0, 9), "9,,us"])

    pipeline = tx_pipeline("raw", checks=[checks.not_null("amount", policy="warn")])
    run = data_ws.pipelines.run(pipeline)

    assert len(ids(data_ws)) == 10
    (result,) = run.report["transactions"]
    assert (result["passed"], result["policy"], result["failed_rows"]) == (False, "warn", 1)


def test_a_batched_transform_sees_bounded_batches(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 5000))
    pipeline = Pipeline("scored")
    pipeline.source("raw", csv_source("raw/*.csv", columns=COLUMNS))
    seen: list[int] = []

    @pipeline.transform
    def doubled(raw: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(raw.num_rows)
        return raw.append_column("double", pc.multiply(raw.column("amount"), 2))

    pipeline.load("scored", doubled)
    data_ws.pipelines.run(pipeline)

    table = data_ws.datasets.read("scored")
    assert table.num_rows == 5000 and sum(seen) == 5000
    assert max(seen) <= data_ws.settings.data.batch_rows
    assert table.column("double").to_pylist()[:3] == [0.0, 3.0, 6.0]


def test_a_step_that_raises_fails_the_run_by_name(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 5))
    pipeline = Pipeline("broken")
    pipeline.source("raw", csv_source("raw/*.csv"))

    @pipeline.transform(batched=False)
    def explode(raw: pa.Table) -> pa.Table:
        raise ZeroDivisionError("no")

    pipeline.load("out", explode)
    with pytest.raises(StepFailedError, match=r"'explode' raised ZeroDivisionError"):
        data_ws.pipelines.run(pipeline)


def test_sql_naming_an_unknown_column_fails_at_its_step(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 5))
    pipeline = Pipeline("typo")
    pipeline.source("raw", csv_source("raw/*.csv"))

    @pipeline.sql
    def picked(raw: str) -> str:
        return f"SELECT amonut FROM {raw}"

    pipeline.load("out", picked)
    with pytest.raises(ValidationError, match=r"SQL step 'picked'.*amonut"):
        data_ws.pipelines.run(pipeline)


def test_definitions_that_do_not_form_a_dag_are_refused() -> None:
    pipeline = Pipeline("loop")

    @pipeline.sql
    def a(b: str) -> str:
        return f"SELECT * FROM {b}"

    @pipeline.sql
    def b(a: str) -> str:
        return f"SELECT * FROM {a}"

    pipeline.load("out", "a")
    with pytest.raises(PipelineDefinitionError, match="cycle"):
        pipeline.order()
    empty = Pipeline("nothing")
    with pytest.raises(PipelineDefinitionError, match="loads nothing"):
        empty.order()
    unknown = Pipeline("bad")
    unknown.load("out", "missing")
    with pytest.raises(PipelineDefinitionError, match="unknown node 'missing'"):
        unknown.order()


def test_backfill_runs_each_day_over_its_partition(data_ws: Workspace) -> None:
    for day, start in (("2026-11-01", 0), ("2026-11-02", 10), ("2026-11-03", 20)):
        write_csv(data_ws.path / "raw" / f"date={day}" / "part.csv", rows(start, 10))
    pipeline = Pipeline("daily")
    pipeline.source("raw", csv_source("raw/date={ds}/*.csv", columns=COLUMNS))

    @pipeline.sql
    def typed(raw: str, ds: str) -> str:
        return f"SELECT *, {ds}::DATE AS loaded_for FROM {raw}"

    pipeline.load("daily", typed)
    runs = data_ws.pipelines.backfill(pipeline, dt.date(2026, 11, 1), dt.date(2026, 11, 2))

    assert [r.logical_date for r in runs] == ["2026-11-01", "2026-11-02"]
    table = data_ws.datasets.read("daily")
    assert sorted(table.column("id").to_pylist()) == list(range(20))
    assert sorted(set(table.column("date").to_pylist())) == [
        dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    ]  # fmt: skip


class FlakySource(Source):
    """A real source that cannot be reached the first ``failures`` times."""

    kind = "flaky"

    def __init__(self, inner: Source, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    def extract(self, ctx: SourceContext) -> Extract:
        self.calls += 1
        if self.calls <= self.failures:
            raise SourceUnavailableError("source", "flaky://", "connection refused")
        return self.inner.extract(ctx)


def test_transient_source_errors_are_retried(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 5))
    flaky = FlakySource(csv_source("raw/*.csv"), failures=2)
    pipeline = Pipeline("flaky")
    pipeline.source("raw", flaky)
    pipeline.load("out", "raw")

    run = data_ws.pipelines.run(pipeline)

    assert (run.status, run.attempts, flaky.calls) == (RunStatus.SUCCEEDED, 3, 3)
    hopeless = Pipeline("hopeless", retries=1)
    hopeless.source("raw", FlakySource(csv_source("raw/*.csv"), failures=5))
    hopeless.load("out2", "raw")
    with pytest.raises(SourceUnavailableError):
        data_ws.pipelines.run(hopeless)
    assert data_ws.pipelines.runs("hopeless")[0].attempts == 2


def test_a_derived_pipeline_reads_only_the_new_parts(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 10))
    data_ws.pipelines.run(tx_pipeline())
    derived = Pipeline("us_only")
    derived.source("tx", dataset_source("transactions"))

    @derived.sql
    def us(tx: str) -> str:
        return f"SELECT * FROM {tx} WHERE country = 'US'"

    derived.load("us_transactions", us)
    data_ws.pipelines.run(derived)
    write_csv(data_ws.path / "raw" / "b.csv", rows(10, 10))
    data_ws.pipelines.run(tx_pipeline())

    run = data_ws.pipelines.run(derived)

    assert run.outputs[0]["rows_added"] == 5
    assert ids(data_ws, "us_transactions") == list(range(1, 20, 2))
    assert data_ws.pipelines.run(derived).status is RunStatus.SKIPPED


def test_parquet_files_with_hive_partitions_and_declared_types(data_ws: Workspace) -> None:
    for country in ("us", "gb"):
        folder = data_ws.path / "lake" / f"country={country}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"id": [1, 2], "amount": [1.0, 2.0]}), folder / "p.parquet")
    pipeline = Pipeline("lake")
    pipeline.source("lake", parquet_source("lake/*/*.parquet", hive_partitioning=True))
    pipeline.load("lake", "lake")

    data_ws.pipelines.run(pipeline)

    table = data_ws.datasets.read("lake")
    assert sorted(table.column("country").to_pylist()) == ["gb", "gb", "us", "us"]
    typed = Pipeline("typed")
    typed.source("lake", parquet_source("lake/*/*.parquet", columns={"amount": "BIGINT"}))
    typed.load("typed", "lake")
    with pytest.raises(SourceDataError, match="'amount' is DOUBLE, declared BIGINT"):
        data_ws.pipelines.run(typed)


def test_pipelines_are_discovered_from_the_workspace_folder(data_ws: Workspace) -> None:
    write_csv(data_ws.path / "raw" / "a.csv", rows(0, 4))
    folder = data_ws.path / "pipelines"
    folder.mkdir()
    (folder / "tx.py").write_text(
        "from modelyard.data import Pipeline, csv_source\n"
        "p = Pipeline('from_file', schedule='*/5 * * * *')\n"
        "p.source('raw', csv_source('raw/*.csv'))\n"
        "p.load('from_file', 'raw')\n"
    )
    (folder / "broken.py").write_text("x = 1\nraise RuntimeError('oops')\n")

    with pytest.raises(PipelineDefinitionError, match=r"broken\.py:2.*oops"):
        data_ws.pipelines.definitions()
    (folder / "broken.py").unlink()
    run = data_ws.pipelines.run("from_file")

    assert run.code["module"] == str(folder / "tx.py")
    assert run.code["digest"].startswith("sha256:")
    assert data_ws.pipelines.get("from_file").schedule == "*/5 * * * *"


def test_files_behind_an_fsspec_url_are_read_through_it(data_ws: Workspace) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    folder = f"/bucket-{data_ws.path.parent.name}/raw"
    fs.pipe(f"{folder}/a.csv", ("\n".join([HEADER, *rows(0, 7)]) + "\n").encode())
    pipeline = Pipeline("remote")
    pipeline.source("raw", csv_source(f"memory://{folder}/*.csv", columns=COLUMNS))
    pipeline.load("remote", "raw")

    run = data_ws.pipelines.run(pipeline)

    assert ids(data_ws, "remote") == list(range(7))
    assert run.inputs[0]["files"][0]["uri"] == f"memory://{folder}/a.csv"
    assert data_ws.pipelines.run(pipeline).status is RunStatus.SKIPPED
