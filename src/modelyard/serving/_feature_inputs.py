"""Deployments that declare a feature service: a request names entities, the online store
gives the features.

A request to such a deployment carries the service's join keys and request fields (for
on-demand views), plus any model input that no feature provides, passed through as given:
that is the deployment's *request signature*, what its endpoints take and describe. For
each request the keys are checked and cast against it, the features are read in one
batched online read (on a thread: a Redis read must not block the event loop), on-demand
transforms run, and the model gets its inputs by name. The batch that is logged holds
the request columns and every feature value the model was given.

Example:
    >>> inputs = FeatureInputs(ws.features, "fraud_v1")
    >>> inputs.request_signature(model_signature).inputs
    (ColumnSpec(name='user_id', dtype='int64'), ColumnSpec(name='amount', dtype='float64'))
    >>> batch = await inputs.enrich(InputBatch(1, {"user_id": ..., "amount": ...}), sig)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from modelyard.errors import ValidationError
from modelyard.features._offline import same_family
from modelyard.registry import Signature
from modelyard.registry._signature import ColumnSpec
from modelyard.serving._types import InputBatch
from modelyard.serving._validate import validate_batch

if TYPE_CHECKING:
    from modelyard.features import FeatureStore, OnlineFrame
    from modelyard.features._registry import Resolved

__all__ = ["FeatureInputs"]

# DuckDB type families (of join keys and request fields) as signature dtypes
_DTYPES = (
    ("BIGINT", "int64"),
    ("DOUBLE", "float64"),
    ("VARCHAR", "string"),
    ("BOOLEAN", "bool"),
    ("TIMESTAMP", "datetime64[us]"),
)
_PRESENT = "PRESENT"


def signature_dtype(duckdb_type: str) -> str:
    """The signature dtype of a DuckDB type: ``BIGINT`` -> ``int64``, ``VARCHAR`` -> ``string``."""
    for family, dtype in _DTYPES:
        if same_family(duckdb_type, family):
            return dtype
    return "object"


class FeatureInputs:
    """How one deployment turns requests into model inputs through a feature service."""

    def __init__(self, features: FeatureStore, service: str) -> None:
        self.features = features
        self.service = service
        self._signature: tuple[Resolved, Signature | None, Signature] | None = None

    def produced(self, resolved: Resolved) -> list[str]:
        """The names of the features the service gives (on-demand outputs included)."""
        names = [
            feature
            for registered, features in resolved.views
            for feature in features
            if (registered.view.name, feature) not in resolved.hidden
        ]
        names += [feature for _odfv, outputs in resolved.on_demand for feature in outputs]
        return names

    def request_signature(self, model: Signature | None) -> Signature:
        """What a request must carry: the join keys and request fields, then the model's
        inputs that no feature provides. Raises FeatureNotFoundError when the service is
        gone from the registry."""
        resolved = self.features.registry.resolve_all(self.service)
        cached = self._signature
        if cached is not None and cached[0] is resolved and cached[1] is model:
            return cached[2]
        fields = self.features.request_fields(self.service)
        columns = [ColumnSpec(f.name, signature_dtype(f.dtype)) for f in fields]
        taken = {c.name for c in columns} | set(self.produced(resolved))
        if model is not None and isinstance(model.inputs, tuple):
            columns += [c for c in model.inputs if c.name not in taken]
        signature = Signature(inputs=tuple(columns))
        self._signature = (resolved, model, signature)
        return signature

    async def enrich(self, batch: InputBatch, model: Signature | None) -> InputBatch:
        """The request's columns (checked and cast) and the service's features for them.

        Raises:
            ValidationError: a key or field is missing or of the wrong type, or a feature
                the model takes as a non-float has no value for some entity.
        """
        request = validate_batch(batch, self.request_signature(model))
        assert request.columns is not None  # a request signature has named columns
        rows = {name: values.tolist() for name, values in request.columns.items()}
        frame = await asyncio.to_thread(self.features.online_frame, self.service, rows)
        columns = dict(request.columns)
        for name in frame.names[len(rows) :]:
            columns[name] = _array(frame.values[name])
        _check_missing(frame, rows, model)
        return InputBatch(n_rows=batch.n_rows, columns=columns)


def _array(values: list[object]) -> np.ndarray:
    """One feature column as an array: missing numbers become NaN, as in training frames."""
    array: np.ndarray = pa.array(values, from_pandas=True).to_numpy(zero_copy_only=False)
    return array


def _check_missing(
    frame: OnlineFrame, rows: dict[str, list[object]], model: Signature | None
) -> None:
    """A missing value can only feed a float input (as NaN, the way training saw it)."""
    if model is None or not isinstance(model.inputs, tuple):
        return
    for spec in model.inputs:
        statuses = frame.statuses.get(spec.name)
        if statuses is None or spec.name in rows or spec.dtype.startswith("float"):
            continue
        missing = [i for i, status in enumerate(statuses) if status != _PRESENT]
        if missing:
            row = missing[0]
            entity = {key: values[row] for key, values in rows.items()}
            raise ValidationError(
                f"feature {spec.name!r} has no value for {entity} ({statuses[row]}); the "
                f"model takes it as {spec.dtype}, which has no missing value",
                details={"field": spec.name, "status": statuses[row], "entity": entity},
            )
