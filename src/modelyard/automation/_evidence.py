"""What the gate scores models on: a holdout, and recent labelled production data.

A holdout is a dataset version (``transactions@3``, ``transactions`` for the latest), a
Parquet or CSV file, an Arrow table or a pandas frame, each with a label column; or the
holdout a training recipe kept with its run (``holdout.parquet``, with the label named
in the run's tags). Production data is the deployment's labelled predictions of a recent
window: the feedback labels joined, in DuckDB, with the inputs the prediction log kept
for them, so both models can be scored again on exactly what callers sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from modelyard._ids import now_ms
from modelyard.errors import ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.registry import LoadedModel, ModelVersion

__all__ = [
    "HOLDOUT_ARTIFACT",
    "LABEL_TAG",
    "Labelled",
    "holdout_data",
    "outputs",
    "production_data",
    "recipe_holdout",
]

HOLDOUT_ARTIFACT = "holdout.parquet"
LABEL_TAG = "modelyard.label"
_INPUT = "input__"


@dataclass(frozen=True, slots=True)
class Labelled:
    """Model inputs and their labels, and where they came from (for the evidence)."""

    inputs: pd.DataFrame
    labels: np.ndarray
    source: str

    @property
    def rows(self) -> int:
        return int(self.labels.size)


def holdout_data(ws: Workspace, holdout: Any, label: str | None) -> Labelled:
    """A holdout given as a dataset ref, a file path, an Arrow table or a pandas frame."""
    if label is None:
        raise ValidationError("a holdout needs its label column (label=..., --label COL)")
    if isinstance(holdout, pd.DataFrame):
        frame, source = holdout, "a pandas frame"
    elif isinstance(holdout, pa.Table):
        frame, source = holdout.to_pandas(), "an Arrow table"
    elif isinstance(holdout, str | Path) and Path(holdout).suffix.lower() in (".parquet", ".csv"):
        path = Path(holdout)
        if not path.is_file():
            raise ValidationError(f"holdout file {path} does not exist")
        table = pq.read_table(path) if path.suffix.lower() == ".parquet" else pcsv.read_csv(path)
        frame, source = table.to_pandas(), str(path)
    elif isinstance(holdout, str):
        version = ws.datasets.get(holdout)
        frame, source = ws.datasets.read(version).to_pandas(), f"dataset {version.ref}"
    else:
        raise ValidationError(
            f"a holdout is a dataset ref, a .parquet or .csv file, an Arrow table or a "
            f"pandas frame, not {type(holdout).__name__}"
        )
    return _split(frame, label, source)


def recipe_holdout(ws: Workspace, version: ModelVersion) -> Labelled | None:
    """The holdout the training recipe kept with the run of ``version``, if it did."""
    if version.run_id is None:
        return None
    run = ws.tracking.get_run(version.run_id)
    found = [a for a in run.artifacts if a.path == HOLDOUT_ARTIFACT]
    label = run.tags.get(LABEL_TAG)
    if not found or label is None:
        return None
    with ws.artifacts.open(found[0].digest) as handle:
        frame = pq.read_table(handle).to_pandas()
    return _split(frame, label, f"the holdout of run {run.id} ({run.name})")


def _split(frame: pd.DataFrame, label: str, source: str) -> Labelled:
    if label not in frame.columns:
        raise ValidationError(
            f"label column {label!r} is not in {source} (columns: {', '.join(map(str, frame))})"
        )
    known = frame[frame[label].notna()]
    return Labelled(known.drop(columns=[label]), known[label].to_numpy(), source)


def production_data(
    ws: Workspace, deployment: str, window: str | dt.timedelta, *, until_ms: int | None = None
) -> Labelled:
    """The deployment's labelled predictions made in ``window`` (ending now): the inputs
    logged with each and its label. Predictions still in a server's write-ahead file (the
    last ``serving.segment_seconds``) are not read yet."""
    from modelyard.data._checks_table import parse_duration

    until = until_ms if until_ms is not None else now_ms() + 1
    since = until - int(parse_duration(window).total_seconds() * 1000)
    source = f"labelled predictions of deployment {deployment!r} in the last {window}"
    labels = ws.monitoring.feedback.labels(deployment, since_ms=since, until_ms=until)
    con = duckdb.connect()
    try:
        rel = ws.monitoring.log.relation(con, deployment, since_ms=since, until_ms=until)
        if rel is None or labels.num_rows == 0:
            return Labelled(pd.DataFrame(), np.array([]), source)
        inputs = [c for c in rel.columns if c.startswith(_INPUT)]
        con.register("__labels", labels)
        con.register("__log", rel)
        picked = ", ".join(f'l."{c}" AS "{c.removeprefix(_INPUT)}"' for c in inputs)
        table = con.sql(
            f"""
            SELECT {picked},
                   CASE f.label WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0
                        ELSE TRY_CAST(f.label AS DOUBLE) END AS __number,
                   trim(f.label, '"') AS __text
            FROM __labels f JOIN __log l USING (prediction_id)
            ORDER BY l.timestamp, l.prediction_id
            """
        ).to_arrow_table()
    finally:
        con.close()
    frame = table.drop(["__number", "__text"]).to_pandas()
    numbers = table.column("__number")
    if numbers.null_count == 0:  # numbers and booleans; else classes named by strings
        labels = numbers.to_numpy().astype(np.float64)
    else:
        labels = table.column("__text").to_numpy(zero_copy_only=False)
    return Labelled(frame, labels, source)


def outputs(model: LoadedModel, inputs: pd.DataFrame, needs: str) -> np.ndarray:
    """What ``model`` answers for ``inputs`` in the form a metric scores: ``class``
    labels, ``score`` (the positive class's probability, from ``predict_proba`` where
    the model has one) or a ``value``."""
    if needs == "score":
        proba = getattr(model.native, "predict_proba", None)
        if callable(proba):
            from modelyard.registry import coerce_input

            batch = inputs if model.signature is None else coerce_input(inputs, model.signature)
            scores = np.asarray(proba(batch))
            classes = list(getattr(model.native, "classes_", range(scores.shape[1])))
            column = classes.index(1) if 1 in classes else scores.shape[1] - 1
            return scores[:, column].astype(np.float64)
    predicted = np.asarray(model.predict(inputs))
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    if needs == "class":
        return predicted
    return predicted.astype(np.float64)
