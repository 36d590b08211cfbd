"""Lineage walks over real pipeline runs, training runs and registered models, and the
OpenLineage events of pipeline runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sqlite3
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import Workspace
from modelyard.data import (
    Pipeline,
    PipelineRun,
    RunStatus,
    open_stream,
    sql_source,
    stream_source,
)
from modelyard.data._lineage import LineageGraph, NodeKind, lineage
from modelyard.data._openlineage import openlineage_events
from modelyard.errors import NotFoundError, StepFailedError

PIPELINES = """
from modelyard.data import Pipeline, csv_source, dataset_source

tx = Pipeline("tx")
tx.source("raw", csv_source("raw/*.csv", columns={"id": "BIGINT", "amount": "DOUBLE"}))
tx.load("transactions", "raw")

daily = Pipeline("daily")
daily.source("tx", dataset_source("transactions"))

@daily.sql
def totals(tx):
    return f"SELECT count(*) AS n, sum(amount) AS total FROM {tx}"

daily.load("totals", "totals")

broken = Pipeline("broken")
broken.source("raw", csv_source("raw/*.csv"))

@broken.transform
def boom(raw):
    raise RuntimeError("boom in the transform")

broken.load("never", "boom")
"""


def write_csv(ws: Workspace, name: str, first: int, count: int) -> str:
    """Write raw/<name> and return its digest as source lineage records it."""
    path = ws.path / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i},{i * 2.5}\n" for i in range(first, first + count))
    path.write_text("id,amount\n" + rows)
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ws(data_ws: Workspace) -> Workspace:
    folder = data_ws.path / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.py").write_text(PIPELINES)
    return data_ws


def walk(ws: Workspace, ref: str) -> LineageGraph:
    return lineage(
        ref, datasets=ws.datasets, runner=ws.pipelines, tracking=ws.tracking, registry=ws.registry
    )


def digests(graph: LineageGraph) -> set[str]:
    return {n.attributes["digest"] for n in graph.source_files()}


def test_a_models_lineage_reaches_back_to_the_source_file_hashes(ws: Workspace) -> None:
    digest = write_csv(ws, "a.csv", 0, 40)
    pipeline_run = ws.pipelines.run("tx")
    version = ws.datasets.get("transactions")
    table = ws.datasets.read(version)
    X = np.column_stack([table.column("amount").to_numpy()])
    y = np.arange(len(X)) % 2
    with ws.start_run("fraud") as run:
        run.log_input("dataset_version", f"transactions@{version.id}")
        model = LogisticRegression().fit(X, y)
    registered = ws.registry.register("fraud", model, run_id=run.id, input_example=X[:2])
    ws.registry.set_alias("fraud", "champion", registered.version)

    graph = walk(ws, "models:/fraud@champion")

    assert digests(graph) == {digest}
    assert graph.root == "model:fraud/1"
    chain = [graph.upstream(graph.root)[0][1]]
    while chain[-1].kind is not NodeKind.PIPELINE_RUN:
        chain.append(graph.upstream(chain[-1].id)[0][1])
    kinds = [NodeKind.TRAINING_RUN, NodeKind.DATASET_VERSION, NodeKind.PIPELINE_RUN]
    assert [n.kind for n in chain] == kinds
    assert chain[2].attributes["id"] == pipeline_run.id
    upstream = {n.kind: (e.relation, n) for e, n in graph.upstream(chain[2].id)}
    assert upstream[NodeKind.SOURCE_FILE][0] == "read"
    code = upstream[NodeKind.CODE][1].attributes
    expected = hashlib.sha256((ws.path / "pipelines" / "x.py").read_bytes()).hexdigest()
    assert code["digest"] == "sha256:" + expected
    assert code["module"].endswith("x.py")


def test_an_appended_version_reaches_the_files_of_every_run(ws: Workspace) -> None:
    first = write_csv(ws, "a.csv", 0, 10)
    ws.pipelines.run("tx")
    second = write_csv(ws, "b.csv", 10, 5)
    ws.pipelines.run("tx")

    graph = walk(ws, "transactions@v2")

    assert digests(graph) == {first, second}
    assert len(graph.of_kind(NodeKind.PIPELINE_RUN)) == 2
    relations = {e.relation for e in graph.edges}
    assert {"appends to", "made by", "read", "ran"} <= relations


def test_a_derived_dataset_reaches_the_files_through_its_input_version(ws: Workspace) -> None:
    digest = write_csv(ws, "a.csv", 0, 10)
    ws.pipelines.run("tx")
    ws.pipelines.run("daily")

    graph = walk(ws, "totals")

    assert digests(graph) == {digest}
    inputs = [n.attributes["dataset"] for n in graph.of_kind(NodeKind.DATASET_VERSION)]
    assert sorted(inputs) == ["totals", "transactions"]


def test_pipeline_and_training_run_ids_and_their_prefixes_are_refs(ws: Workspace) -> None:
    digest = write_csv(ws, "a.csv", 0, 10)
    run = ws.pipelines.run("tx")
    version = ws.datasets.get("transactions")
    with ws.start_run("exp") as training:
        training.log_input("dataset_version", f"transactions@{version.id}")

    by_run = walk(ws, run.id[:10])
    by_training = walk(ws, training.id)

    assert by_run.node(by_run.root).kind is NodeKind.PIPELINE_RUN
    assert by_training.node(by_training.root).kind is NodeKind.TRAINING_RUN
    assert digests(by_run) == digests(by_training) == {digest}


def test_a_cycle_of_ids_ends_the_walk(ws: Workspace) -> None:
    with ws.start_run("exp") as run:
        version = ws.datasets.write("loop", pa.table({"x": [1, 2]}), run_id=run.id)
        run.log_input("dataset_version", f"loop@{version.id}")

    graph = walk(ws, "loop@v1")

    assert [n.kind for n in graph.nodes] == [NodeKind.DATASET_VERSION, NodeKind.TRAINING_RUN]
    assert {(e.upstream, e.downstream) for e in graph.edges} == {
        (f"run:{run.id}", f"dataset:loop@{version.id}"),
        (f"dataset:loop@{version.id}", f"run:{run.id}"),
    }


def test_an_unknown_ref_is_not_found(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="neither a model URI"):
        walk(ws, "0123456789abcdef")


def test_to_dict_lists_unique_nodes_and_edges_between_them(ws: Workspace) -> None:
    write_csv(ws, "a.csv", 0, 10)
    ws.pipelines.run("tx")

    data = json.loads(json.dumps(walk(ws, "transactions@latest").to_dict()))

    ids = [n["id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids)) and data["root"] == ids[0]
    assert all(e["upstream"] in ids and e["downstream"] in ids for e in data["edges"])
    kinds = {n["kind"] for n in data["nodes"]}
    assert kinds == {"dataset_version", "pipeline_run", "source_file", "code"}


def events(ws: Workspace, run: PipelineRun) -> list[dict[str, Any]]:
    found = openlineage_events(run, datasets=ws.datasets, namespace="acme")
    decoded: list[dict[str, Any]] = json.loads(json.dumps(found))
    return decoded


def test_openlineage_events_of_a_run_carry_file_digests_and_row_counts(ws: Workspace) -> None:
    digest = write_csv(ws, "a.csv", 0, 12)
    run = ws.pipelines.run("tx")

    start, complete = events(ws, run)

    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in (start, complete)} == {str(uuid.UUID(run.id))}
    assert complete["job"] == start["job"]
    assert (complete["job"]["namespace"], complete["job"]["name"]) == ("acme", "tx")
    dt.datetime.fromisoformat(str(complete["eventTime"]))
    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(ws.path / "raw" / "a.csv"))
    assert source["facets"]["version"]["datasetVersion"] == digest
    (output,) = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("acme", "transactions")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 12
    assert output["facets"]["version"]["datasetVersion"] == run.outputs[0]["version"]
    fields = [(f["name"], f["type"]) for f in output["facets"]["schema"]["fields"]]
    assert fields == [("id", "BIGINT"), ("amount", "DOUBLE")]


def test_openlineage_names_a_dataset_input_by_its_version(ws: Workspace) -> None:
    write_csv(ws, "a.csv", 0, 5)
    ws.pipelines.run("tx")
    version = ws.datasets.get("transactions")

    _, complete = events(ws, ws.pipelines.run("daily"))

    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("acme", "transactions")
    assert source["facets"]["version"]["datasetVersion"] == version.id
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["id", "amount"]


def test_a_failed_run_ends_in_a_fail_event_with_the_message(ws: Workspace) -> None:
    write_csv(ws, "a.csv", 0, 5)
    with pytest.raises(StepFailedError):
        ws.pipelines.run("broken")
    (run,) = ws.pipelines.runs("broken")
    assert run.status is RunStatus.FAILED

    start, fail = events(ws, run)

    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "boom in the transform" in message
    assert fail["outputs"] == []


def test_sql_and_stream_inputs_become_nodes_and_openlineage_inputs(ws: Workspace) -> None:
    shop = ws.path / "shop.db"
    with contextlib.closing(sqlite3.connect(shop)) as con, con:
        con.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        con.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 2.5), (2, 4.0)])
    with open_stream("clicks", db=ws.db, settings=ws.settings.data) as clicks:
        clicks.append([{"user": 1}, {"user": 2}, {"user": 3}])
    pipeline = Pipeline("mixed")
    pipeline.source("orders", sql_source(f"sqlite:///{shop}", "SELECT id, amount FROM orders"))
    pipeline.source("clicks", stream_source("clicks", columns={"user": "BIGINT"}))

    @pipeline.sql
    def joined(orders: str, clicks: str) -> str:
        return f"SELECT o.id, (SELECT count(*) FROM {clicks}) AS clicks FROM {orders} o"

    pipeline.load("mixed", "joined")
    run = ws.pipelines.run(pipeline)

    graph = walk(ws, "mixed@v1")
    _, complete = events(ws, run)

    (sql,) = graph.of_kind(NodeKind.SQL)
    assert (sql.attributes["rows"], sql.attributes["query"]) == (2, "SELECT id, amount FROM orders")
    (stream,) = graph.of_kind(NodeKind.STREAM)
    assert (stream.attributes["stream"], stream.attributes["events"]) == ("clicks", 3)
    inputs = {i["name"]: i for i in complete["inputs"]}
    assert inputs[f"{str(shop).lstrip('/')}/orders"]["namespace"] == "sqlite"
    assert inputs["clicks"]["inputFacets"]["inputStatistics"]["rowCount"] == 3
