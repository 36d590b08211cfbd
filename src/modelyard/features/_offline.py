"""Point-in-time correct training data: entity rows joined with feature views in DuckDB.

Feast's semantics: for every entity row (join keys + ``event_timestamp``) and every view,
the latest feature row of the same keys at or before the entity's timestamp, and no older
than the view's ttl (inclusive; a ttl of zero means no limit); rows with the same event
timestamp are told apart by the created timestamp (the latest wins). It is a left join:
every entity row is kept, in order, duplicates included, with nulls where no feature row
qualifies. DuckDB's ASOF join does the search (ordering by event time, then created time),
streaming and spilling beyond memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from modelyard.data._duck import ident
from modelyard.errors import ValidationError
from modelyard.features._types import FeatureView

__all__ = ["ViewInput", "point_in_time_sql", "same_family"]

_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
            "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ViewInput:
    """One view in a join: its definition, a DuckDB relation of its rows, the features."""

    view: FeatureView
    relation: str
    features: tuple[str, ...]


def _family(dtype: str) -> str:
    upper = dtype.upper()
    if upper in _INTEGER:
        return "integer"
    if upper in ("FLOAT", "DOUBLE", "REAL") or upper.startswith("DECIMAL"):
        return "float"
    if upper.startswith(("VARCHAR", "STRING", "TEXT")):
        return "string"
    if upper in ("BOOL", "BOOLEAN"):
        return "boolean"
    if upper.startswith(("TIMESTAMP", "DATETIME")):
        return "timestamp"
    return upper


def same_family(a: str, b: str) -> bool:
    """Whether DuckDB types ``a`` and ``b`` hold the same kind of value (any integer width,
    any float, any text, any timestamp)."""
    return _family(a) == _family(b)


def point_in_time_sql(
    con: duckdb.DuckDBPyConnection,
    entities: str,
    views: Sequence[ViewInput],
    *,
    timestamp: str = "event_timestamp",
    full_feature_names: bool = False,
) -> str:
    """SQL of the point-in-time join of the ``entities`` relation with ``views``.

    Raises ValidationError when the entity rows lack a join key or the timestamp, when a
    key's type cannot match the view's (a string against a number), or when two views
    give features the same name (ask for ``full_feature_names``).
    """
    rel = con.sql(f"SELECT * FROM {entities} LIMIT 0")
    columns = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
    if timestamp not in columns:
        raise ValidationError(
            f"the entity rows have no {timestamp!r} column (columns: {', '.join(columns)})"
        )
    names: dict[str, str] = {}
    ctes = [f"entity AS (SELECT *, row_number() OVER () AS __row FROM {entities})"]
    selects: list[str] = []
    joins: list[str] = []
    at = f"CAST(entity.{ident(timestamp)} AS TIMESTAMPTZ)"
    for i, item in enumerate(views):
        view, alias = item.view, f"v{i}"
        for key in view.join_keys:
            if key.name not in columns:
                raise ValidationError(
                    f"feature view {view.name!r} joins on {key.name!r}, which the entity rows "
                    f"lack (columns: {', '.join(columns)})"
                )
            if not same_family(columns[key.name], key.dtype):
                raise ValidationError(
                    f"join key {key.name!r} of the entity rows is {columns[key.name]}, but "
                    f"feature view {view.name!r} declares {key.dtype}"
                )
        keys = ", ".join(ident(k) for k in view.join_key_names)
        feats = ", ".join(ident(f) for f in item.features)
        stamp = f"CAST({ident(view.timestamp_field)} AS TIMESTAMPTZ)"
        on = " AND ".join(
            f"CAST(entity.{ident(k.name)} AS {k.dtype}) = {alias}.{ident(k.name)}"
            for k in view.join_keys
        )
        if view.created_timestamp_field:
            # ties on the event time go to the latest created row: the ASOF join orders by
            # (event time, created) itself, which costs far less than deduplicating first
            created = f"CAST({ident(view.created_timestamp_field)} AS TIMESTAMPTZ)"
            order = f"{{'t': {stamp}, 'c': coalesce({created}, '-infinity'::TIMESTAMPTZ)}}"
            probe = f"{{'t': {at}, 'c': 'infinity'::TIMESTAMPTZ}} >= {alias}.__order"
        else:
            order = stamp
            probe = f"{at} >= {alias}.__order"
        ctes.append(
            f"{alias} AS (SELECT {keys}, {stamp} AS __ts, {order} AS __order, {feats} "
            f"FROM {item.relation} WHERE {ident(view.timestamp_field)} IS NOT NULL)"
        )
        joins.append(f"ASOF LEFT JOIN {alias} ON {on} AND {probe}")
        seconds = view.ttl.total_seconds()
        for feature in item.features:
            out = f"{view.name}__{feature}" if full_feature_names else feature
            if out in names or out in columns:
                raise ValidationError(
                    f"feature name {out!r} is given twice (by {names.get(out, 'the entity rows')}"
                    f" and {view.name!r}): ask for full feature names (view__feature)"
                )
            names[out] = repr(view.name)
            value = f"{alias}.{ident(feature)}"
            if seconds > 0:
                value = (
                    f"CASE WHEN {alias}.__ts >= {at} - to_microseconds("
                    f"{int(seconds * 1_000_000)}) THEN {value} END"
                )
            selects.append(f"{value} AS {ident(out)}")
    columns_out = ", ".join(["entity.* EXCLUDE (__row)", *selects])
    return (
        f"WITH {', '.join(ctes)} SELECT {columns_out} FROM entity {' '.join(joins)} "
        "ORDER BY entity.__row"
    )
