"""On-demand feature views: request-time transforms written once, in Python, over Arrow.

The same function runs on the training rows (after the point-in-time join) and on the
online rows (after the online read), so the two paths cannot drift apart:

    @on_demand_feature_view(
        sources=["user_stats:amount_mean"],
        request=[Field("amount", "DOUBLE")],
        schema=[Field("amount_vs_user_mean", "DOUBLE")],
    )
    def amount_ratio(rows: pa.Table) -> pa.Table:
        return pa.table({"amount_vs_user_mean": pc.divide(rows["amount"], rows["amount_mean"])})

The function gets one column per source feature (plain feature names) and per request
field, and returns the ``schema`` columns with as many rows. It is registered by value
(cloudpickle), with its source text for people and for the version digest.
"""

from __future__ import annotations

import base64
import inspect
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cloudpickle
import pyarrow as pa

from modelyard.errors import StepFailedError, ValidationError
from modelyard.features._types import Field, check_name, parse_refs

if TYPE_CHECKING:
    from modelyard.features._registry import Resolved

__all__ = ["OnDemandFeatureView", "on_demand_feature_view", "with_on_demand"]

Transform = Callable[[pa.Table], pa.Table]


@dataclass(frozen=True, slots=True)
class OnDemandFeatureView:
    """A named Arrow transform from source features and request fields to new features."""

    name: str
    sources: tuple[str, ...]
    request: tuple[Field, ...]
    schema: tuple[Field, ...]
    fn: Transform
    code: str = ""

    def __post_init__(self) -> None:
        check_name("on-demand feature view", self.name)
        if not self.schema:
            raise ValidationError(f"on-demand feature view {self.name!r} declares no outputs")
        for view, _version, feature in parse_refs(self.sources):
            if feature == "*":
                raise ValidationError(
                    f"on-demand feature view {self.name!r}: name each source feature of "
                    f"{view!r} (no '*')"
                )

    @property
    def features(self) -> tuple[Field, ...]:
        return self.schema

    def source_features(self) -> list[str]:
        return [feature for _view, _version, feature in parse_refs(self.sources)]

    def apply(self, rows: pa.Table) -> pa.Table:
        """Run the transform over ``rows`` (source features and request fields); returns
        the output columns, checked against ``schema``."""
        try:
            out = self.fn(rows)
        except Exception as exc:
            raise StepFailedError(self.name, exc) from exc
        if isinstance(out, pa.RecordBatch):
            out = pa.Table.from_batches([out])
        if not isinstance(out, pa.Table) or out.num_rows != rows.num_rows:
            raise ValidationError(
                f"on-demand feature view {self.name!r} must return a pyarrow Table with "
                f"{rows.num_rows} rows, not {type(out).__name__}"
            )
        missing = [f.name for f in self.schema if f.name not in out.column_names]
        if missing:
            raise ValidationError(
                f"on-demand feature view {self.name!r} did not return {', '.join(missing)}"
            )
        return out.select([f.name for f in self.schema])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sources": list(self.sources),
            "request": {f.name: f.dtype for f in self.request},
            "schema": {f.name: f.dtype for f in self.schema},
            "code": self.code,
            "udf": base64.b64encode(cloudpickle.dumps(self.fn)).decode(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnDemandFeatureView:
        return cls(
            name=data["name"],
            sources=tuple(data["sources"]),
            request=tuple(Field(n, t) for n, t in data["request"].items()),
            schema=tuple(Field(n, t) for n, t in data["schema"].items()),
            fn=cloudpickle.loads(base64.b64decode(data["udf"])),
            code=data.get("code", ""),
        )


def on_demand_feature_view(
    *, sources: Sequence[str], schema: Sequence[Field], request: Sequence[Field] = ()
) -> Callable[[Transform], OnDemandFeatureView]:
    """Decorate an Arrow transform as an on-demand feature view named after it."""

    def wrap(fn: Transform) -> OnDemandFeatureView:
        try:
            code = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            code = ""
        return OnDemandFeatureView(
            fn.__name__, tuple(sources), tuple(request), tuple(schema), fn, code
        )

    return wrap


def with_on_demand(table: pa.Table, resolved: Resolved, *, full_feature_names: bool) -> pa.Table:
    """``table`` (entity or request columns plus view features) with the on-demand views'
    outputs added and the features read only as their inputs dropped."""

    def column(view: str, feature: str) -> str:
        return f"{view}__{feature}" if full_feature_names else feature

    for odfv, outputs in resolved.on_demand:
        inputs: dict[str, pa.ChunkedArray] = {}
        for view, _version, feature in parse_refs(odfv.sources):
            inputs[feature] = table.column(column(view, feature))
        for field in odfv.request:
            if field.name not in table.column_names:
                raise ValidationError(
                    f"on-demand feature view {odfv.name!r} needs the request field "
                    f"{field.name!r}; give it with the entity rows"
                )
            inputs[field.name] = table.column(field.name)
        out = odfv.apply(pa.table(inputs))
        for feature in outputs:
            table = table.append_column(column(odfv.name, feature), out.column(feature))
    hidden = [column(v, f) for v, f in resolved.hidden if column(v, f) in table.column_names]
    return table.drop_columns(hidden) if hidden else table
