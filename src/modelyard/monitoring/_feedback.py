"""Feedback: the ground truth of a prediction, attached by its id, possibly days later.

A label is stored once per prediction id, in the metadata database, with the deployment,
model version and time of the prediction it answers (so performance can be computed per
version and per window without rereading the log). Sending the same label again changes
nothing; another label for a labelled prediction is a :class:`LabelConflictError`; an id
no server logged is a :class:`PredictionNotFoundError`; a label whose type cannot be
compared with the logged output (a string for a numeric prediction, a fraction for a
class) is a :class:`ValidationError`. A bulk import checks every row first and writes all
of them or none (``skip_invalid`` writes the valid ones and reports the rest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import select

from modelyard._ids import now_ms
from modelyard.errors import LabelConflictError, PredictionNotFoundError, ValidationError
from modelyard.monitoring._log import PredictionLogReader
from modelyard.store import Database
from modelyard.store._schema import feedback

__all__ = ["FeedbackImport", "FeedbackStore", "check_label"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class FeedbackImport:
    """What a (bulk) feedback call did."""

    created: int = 0
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "unchanged": self.unchanged,
            "unknown": len(self.unknown),
            "conflicts": len(self.conflicts),
            "invalid": len(self.invalid),
            "examples": {
                "unknown": self.unknown[:5],
                "conflicts": self.conflicts[:5],
                "invalid": self.invalid[:5],
            },
        }


def check_label(prediction_id: str, label: Any, output: Any) -> None:
    """Raise ValidationError when ``label`` cannot be compared with the logged ``output``:
    a class (integer or boolean output) takes an integer or boolean, a number takes a
    number, a string takes a string; nothing takes null."""
    if label is None:
        raise _label_error(prediction_id, label, "a label cannot be null")
    if isinstance(output, bool | int):
        ok = isinstance(label, bool | int)
        wanted = "an integer or boolean class"
    elif isinstance(output, float):
        ok = isinstance(label, int | float) and not isinstance(label, bool)
        wanted = "a number"
    elif isinstance(output, str):
        ok = isinstance(label, str)
        wanted = "a string"
    else:  # a list of scores: a class index or name, or the list itself
        ok = isinstance(label, int | str | list) and not isinstance(label, bool)
        wanted = "a class (integer or string) or a list"
    if not ok:
        raise _label_error(
            prediction_id,
            label,
            f"the prediction was {orjson.dumps(output).decode()}, so its label must be {wanted}",
        )


def _label_error(prediction_id: str, label: Any, reason: str) -> ValidationError:
    return ValidationError(
        f"label {label!r} of prediction {prediction_id} does not fit: {reason}",
        details={"field": "label", "prediction_id": prediction_id},
    )


class FeedbackStore:
    """Labels in the metadata database, checked against the prediction log."""

    def __init__(self, db: Database, log: PredictionLogReader) -> None:
        self.db = db
        self.log = log

    def add(self, prediction_id: str, label: Any) -> bool:
        """Attach ``label`` to ``prediction_id``; True when stored, False when it was
        already (idempotent).

        Raises:
            PredictionNotFoundError: no server logged the id.
            LabelConflictError: the prediction has another label.
            ValidationError: the label's type does not fit the prediction.
        """
        if not isinstance(prediction_id, str) or not prediction_id:
            raise ValidationError("prediction_id must be a non-empty string")
        result = self.add_many([prediction_id], [label])
        if result.unknown:
            raise PredictionNotFoundError(result.unknown)
        return result.created == 1

    def add_many(
        self, prediction_ids: Sequence[str], labels: Sequence[Any], *, skip_invalid: bool = False
    ) -> FeedbackImport:
        """Attach each label to its prediction id; all or nothing unless ``skip_invalid``.

        Raises (without ``skip_invalid``): LabelConflictError, ValidationError (a wrong
        type, with the first problem; or several problems counted), PredictionNotFoundError
        for unknown ids (only when every id is unknown or ``add`` asked for one).
        """
        if len(prediction_ids) != len(labels):
            raise ValidationError("give one label per prediction id")
        given = _last_per_id(prediction_ids, labels)
        found = self.log.find(list(given))
        logged = {
            row["prediction_id"]: row for row in found.to_pylist()
        }  # one dict per labelled row: the import's size, not the log's
        stored = self._stored(list(logged))
        unknown = [pid for pid in given if pid not in logged]
        rows: list[dict[str, Any]] = []
        unchanged: list[str] = []
        conflicts: list[str] = []
        invalid: list[str] = []
        first_error: Exception | None = None
        now = now_ms()
        for pid, row in logged.items():
            label = given[pid]
            try:
                check_label(pid, label, orjson.loads(row["output"]))
            except ValidationError as exc:
                invalid.append(pid)
                first_error = first_error or exc
                continue
            if pid in stored:
                if stored[pid] == label:
                    unchanged.append(pid)
                else:
                    conflicts.append(pid)
                    first_error = first_error or LabelConflictError(pid, stored[pid], label)
                continue
            rows.append(
                {
                    "prediction_id": pid,
                    "deployment": row["deployment"],
                    "model": row["model"],
                    "version": row["version"],
                    "label": label,
                    "predicted_at": row["timestamp_ms"],
                    "received_at": now,
                }
            )
        if not skip_invalid:
            if first_error is not None and len(invalid) + len(conflicts) == 1:
                raise first_error
            if first_error is not None:
                raise ValidationError(
                    f"nothing was imported: {len(invalid)} labels of the wrong type, "
                    f"{len(conflicts)} conflicting with stored labels, {len(unknown)} "
                    f"unknown ids (first: {first_error})",
                    details={"invalid": invalid[:20], "conflicts": conflicts[:20]},
                )
            if unknown and len(prediction_ids) > 1:
                raise PredictionNotFoundError(unknown)
        self._insert(rows)
        return FeedbackImport(len(rows), len(unchanged), unknown, conflicts, invalid)

    def import_table(self, table: pa.Table, *, skip_invalid: bool = False) -> FeedbackImport:
        """A bulk import: a table (e.g. read from Parquet) with ``prediction_id`` and
        ``label`` columns."""
        missing = [c for c in ("prediction_id", "label") if c not in table.column_names]
        if missing:
            raise ValidationError(
                f"feedback needs the columns prediction_id and label; missing "
                f"{', '.join(missing)} (columns: {', '.join(table.column_names)})"
            )
        ids = table.column("prediction_id")
        if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
            raise ValidationError(f"prediction_id must be strings, not {ids.type}")
        return self.add_many(
            ids.to_pylist(), table.column("label").to_pylist(), skip_invalid=skip_invalid
        )

    def labels(
        self, deployment: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> pa.Table:
        """The labels of ``deployment``'s predictions made in ``[since, until)``:
        prediction_id, version, predicted_at (ms) and the label as JSON text."""
        query = select(
            feedback.c.prediction_id,
            feedback.c.version,
            feedback.c.predicted_at,
            feedback.c.label,
        ).where(feedback.c.deployment == deployment)
        if since_ms is not None:
            query = query.where(feedback.c.predicted_at >= since_ms)
        if until_ms is not None:
            query = query.where(feedback.c.predicted_at < until_ms)
        with self.db.read() as conn:
            result = conn.execute(query).all()
        columns: list[Sequence[Any]] = (
            list(zip(*result, strict=True)) if result else [[], [], [], []]
        )
        return pa.table(
            {
                "prediction_id": pa.array(columns[0], pa.string()),
                "version": pa.array(columns[1], pa.int64()),
                "predicted_at": pa.array(columns[2], pa.int64()),
                "label": pa.array([orjson.dumps(v).decode() for v in columns[3]], pa.string()),
            }
        )

    def _stored(self, ids: list[str]) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = select(feedback.c.prediction_id, feedback.c.label).where(
                    feedback.c.prediction_id.in_(chunk)
                )
                stored.update(dict(conn.execute(query).all()))
        return stored

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.db.write() as conn:
            for start in range(0, len(rows), _CHUNK):
                conn.execute(feedback.insert(), rows[start : start + _CHUNK])


def _last_per_id(ids: Iterable[str], labels: Iterable[Any]) -> Mapping[str, Any]:
    """Each id once; a repeated id keeps its last label."""
    return dict(zip(ids, labels, strict=True))
