"""Row-level checks: each gives a SQL condition that is TRUE for a failing row.

All of them but ``not_null`` and ``unique`` let NULL pass (``not_null`` is the check for
nulls), as Great Expectations does; ``expression`` reads NULL as passing, like a SQL CHECK
constraint. Failing rows can be quarantined instead of failing the load.
"""

from __future__ import annotations

import datetime as dt
import decimal
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from typing_extensions import override

from modelyard.data._checks_base import (
    Check,
    CheckContext,
    RowCheck,
    check_columns,
    check_policy,
    check_regex,
    check_sql,
)
from modelyard.data._duck import ident, literal
from modelyard.data._stats import json_safe
from modelyard.data._types import Policy
from modelyard.errors import ValidationError

__all__ = ["allowed_values", "expression", "in_range", "matches", "not_null", "unique"]

_SHOWN_VALUES = 10  # allowed values spelled out in messages
_Bound = int | float | decimal.Decimal | dt.date | dt.datetime | str


@dataclass(frozen=True, kw_only=True)
class NotNull(RowCheck):
    kind = "not_null"

    @override
    def condition(self, ctx: CheckContext) -> str:
        return " OR ".join(f"{ident(c)} IS NULL" for c in self.columns)

    @override
    def describe(self, ctx: CheckContext) -> str:
        return f"have a null in {' or '.join(self.columns)}"

    @override
    def sample_sql(self) -> str | None:
        if len(self.columns) == 1:
            return None  # the failing value is always NULL
        names = ", ".join(
            f"CASE WHEN {ident(c)} IS NULL THEN {literal(c)} END" for c in self.columns
        )
        return f"concat_ws(', ', {names})"  # which of the columns are null

    @override
    def arguments(self) -> dict[str, Any]:
        return {"columns": list(self.columns)}


@dataclass(frozen=True, kw_only=True)
class Unique(RowCheck):
    kind = "unique"

    @override
    def condition(self, ctx: CheckContext) -> str:
        cols = ", ".join(ident(c) for c in self.columns)
        key = ident(self.columns[0]) if len(self.columns) == 1 else f"row({cols})"
        present = " AND ".join(f"{ident(c)} IS NOT NULL" for c in self.columns)
        seen = (
            f"SELECT {key} FROM {ctx.relation} WHERE {present} GROUP BY {cols} HAVING count(*) > 1"
        )
        if ctx.combined is not None and ctx.previous is not None:
            seen += f" UNION ALL SELECT {key} FROM {ctx.previous} WHERE {present}"
        return f"{present} AND {key} IN ({seen})"

    @override
    def describe(self, ctx: CheckContext) -> str:
        key = self.columns[0] if len(self.columns) == 1 else f"({', '.join(self.columns)})"
        if ctx.combined is not None and ctx.previous is not None:
            return f"have a duplicate {key} (repeated, or already in the previous version)"
        return f"have a duplicate {key}"

    @override
    def arguments(self) -> dict[str, Any]:
        return {"columns": list(self.columns)}


@dataclass(frozen=True, kw_only=True)
class InRange(RowCheck):
    kind = "in_range"
    min: _Bound | None
    max: _Bound | None
    inclusive: bool

    @override
    def condition(self, ctx: CheckContext) -> str:
        col = ident(self.columns[0])
        low, high = ("<", ">") if self.inclusive else ("<=", ">=")
        parts = []
        if self.min is not None:
            parts.append(f"{col} {low} {literal(self.min)}")
        if self.max is not None:
            parts.append(f"{col} {high} {literal(self.max)}")
        return " OR ".join(parts)

    @override
    def describe(self, ctx: CheckContext) -> str:
        left = "[" if self.inclusive and self.min is not None else "("
        right = "]" if self.inclusive and self.max is not None else ")"
        low = "-inf" if self.min is None else str(self.min)
        high = "inf" if self.max is None else str(self.max)
        return f"have {self.columns[0]} outside {left}{low}, {high}{right}"

    @override
    def arguments(self) -> dict[str, Any]:
        return {
            "column": self.columns[0],
            "min": json_safe(self.min),
            "max": json_safe(self.max),
            "inclusive": self.inclusive,
        }


@dataclass(frozen=True, kw_only=True)
class AllowedValues(RowCheck):
    kind = "allowed_values"
    values: tuple[Any, ...]

    @override
    def condition(self, ctx: CheckContext) -> str:
        listed = ", ".join(literal(v) for v in self.values)
        return f"{ident(self.columns[0])} NOT IN ({listed})"

    @override
    def describe(self, ctx: CheckContext) -> str:
        shown = ", ".join(repr(v) for v in self.values[:_SHOWN_VALUES])
        more = f", ... ({len(self.values)} values)" if len(self.values) > _SHOWN_VALUES else ""
        return f"have {self.columns[0]} not in [{shown}{more}]"

    @override
    def arguments(self) -> dict[str, Any]:
        return {"column": self.columns[0], "values": [json_safe(v) for v in self.values]}


@dataclass(frozen=True, kw_only=True)
class Matches(RowCheck):
    kind = "matches"
    regex: str

    @override
    def condition(self, ctx: CheckContext) -> str:
        col = ident(self.columns[0])
        return f"NOT regexp_full_match(CAST({col} AS VARCHAR), {literal(self.regex)})"

    @override
    def describe(self, ctx: CheckContext) -> str:
        return f"have {self.columns[0]} not matching {self.regex!r}"

    @override
    def arguments(self) -> dict[str, Any]:
        return {"column": self.columns[0], "regex": self.regex}


@dataclass(frozen=True, kw_only=True)
class Expression(RowCheck):
    kind = "expression"
    sql: str

    @override
    def condition(self, ctx: CheckContext) -> str:
        return f"NOT ({self.sql})"

    @override
    def describe(self, ctx: CheckContext) -> str:
        return f"do not satisfy {self.sql}"

    @override
    def sample_sql(self) -> str | None:
        return None

    @override
    def arguments(self) -> dict[str, Any]:
        return {"sql": self.sql}


def not_null(*columns: str, policy: Policy | str = "fail", name: str | None = None) -> Check:
    """Fail rows where any of ``columns`` is NULL.

    One check covers all the columns given (``column`` reads ``"a, b"``); its sample
    lists, per failing row, which of them are null. Declare one check per column to get
    one result per column.

    Example:
        >>> not_null("id", "amount", policy="quarantine").column
        'id, amount'
    """
    cols = check_columns(columns, "not_null")
    return NotNull(
        name=_name(name, "not_null", cols),
        policy=check_policy(policy, row_level=True),
        columns=cols,
    )


def unique(*columns: str, policy: Policy | str = "fail", name: str | None = None) -> Check:
    """Fail rows whose key (the columns together) occurs more than once in the new rows,
    or, for an append load, is already in the previous version. As in SQL, a key with a
    NULL part is never a duplicate. Every row of a repeated key fails, the first included.
    """
    cols = check_columns(columns, "unique")
    return Unique(
        name=_name(name, "unique", cols), policy=check_policy(policy, row_level=True), columns=cols
    )


def in_range(
    column: str,
    min: _Bound | None = None,
    max: _Bound | None = None,
    *,
    inclusive: bool = True,
    policy: Policy | str = "fail",
    name: str | None = None,
) -> Check:
    """Fail rows where ``column`` is below ``min`` or above ``max`` (either may be None);
    with ``inclusive=False`` the bounds themselves fail too. NULL passes.

    Example:
        >>> in_range("amount", 0, 10_000).name
        'in_range(amount)'
    """
    cols = check_columns([column], "in_range")
    if min is None and max is None:
        raise ValidationError("in_range needs min, max or both")
    min, max = _bound(min), _bound(max)
    if min is not None and max is not None:
        try:
            empty = min > max or (min == max and not inclusive)  # type: ignore[operator]
        except TypeError:
            raise ValidationError(f"in_range bounds {min!r} and {max!r} do not compare") from None
        if empty:
            raise ValidationError(f"in_range of {column!r}: min {min!r} is above max {max!r}")
    return InRange(
        name=_name(name, "in_range", cols),
        policy=check_policy(policy, row_level=True),
        columns=cols,
        min=min,
        max=max,
        inclusive=inclusive,
    )


def allowed_values(
    column: str, values: Iterable[Any], *, policy: Policy | str = "fail", name: str | None = None
) -> Check:
    """Fail rows where ``column`` holds a value not in ``values``. NULL passes."""
    cols = check_columns([column], "allowed_values")
    if isinstance(values, str | bytes):
        raise ValidationError(f"allowed_values of {column!r} takes a list of values, not a string")
    kept = tuple(dict.fromkeys(v for v in values if v is not None))
    if not kept:
        raise ValidationError(f"allowed_values of {column!r} needs at least one value")
    return AllowedValues(
        name=_name(name, "allowed_values", cols),
        policy=check_policy(policy, row_level=True),
        columns=cols,
        values=kept,
    )


def matches(
    column: str, regex: str, *, policy: Policy | str = "fail", name: str | None = None
) -> Check:
    """Fail rows where ``column`` (as text) does not fully match ``regex`` (RE2 syntax,
    as DuckDB's ``regexp_full_match``). NULL passes."""
    cols = check_columns([column], "matches")
    if not isinstance(regex, str):
        raise ValidationError(f"matches of {column!r} needs a regex string, not {regex!r}")
    check_regex(regex)
    return Matches(
        name=_name(name, "matches", cols),
        policy=check_policy(policy, row_level=True),
        columns=cols,
        regex=regex,
    )


def expression(name: str, sql: str, *, policy: Policy | str = "fail") -> Check:
    """Fail rows for which the SQL boolean ``sql`` is FALSE; NULL passes, as in a SQL
    CHECK constraint.

    Example:
        >>> expression("paid_after_order", "paid_at >= ordered_at").kind
        'expression'
    """
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError(f"expression {name!r} needs a SQL boolean")
    check_sql(f"SELECT ({sql})", f"expression {name!r}")
    return Expression(
        name=_name(name, "expression", ()), policy=check_policy(policy, row_level=True), sql=sql
    )


def _bound(value: Any) -> _Bound | None:
    """A bound as a value :func:`literal` spells right (numpy numbers become Python ones)."""
    if isinstance(value, bool) or not isinstance(value, _Bound | numbers.Real | None):
        raise ValidationError(f"in_range bounds must be numbers, dates or strings: {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, float | decimal.Decimal):
        return float(value)
    return value


def _name(name: str | None, kind: str, columns: tuple[str, ...]) -> str:
    if name is None:
        return f"{kind}({', '.join(columns)})"
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"a {kind} check name must be a non-empty string, not {name!r}")
    return name
