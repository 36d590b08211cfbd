"""Table-level checks: schema, row count, freshness and custom SQL (drift has its own
module).

They judge the new rows as a whole, so they fail or warn but cannot quarantine rows.
For them ``failed_rows`` counts what failed: problem columns for ``schema``, rows returned
for ``custom_sql``; 0 for the others.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.data._checks_base import (
    SAMPLE_SIZE,
    Check,
    CheckContext,
    TableCheck,
    check_columns,
    check_policy,
    check_sql,
    normalise_type,
)
from modelyard.data._duck import ident
from modelyard.data._stats import json_safe
from modelyard.data._types import CheckResult, Policy
from modelyard.errors import ValidationError

__all__ = ["custom_sql", "freshness", "parse_duration", "row_count", "schema"]

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")


@dataclass(frozen=True, kw_only=True)
class SchemaCheck(TableCheck):
    kind = "schema"
    expected: tuple[tuple[str, str], ...]
    exact: bool

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        actual = {name: type_.upper() for name, type_ in ctx.schema}
        wanted = dict(self.expected)
        problems = []
        for col, type_ in self.expected:
            if col not in actual:
                problems.append(f"missing column {col!r} ({type_})")
            elif actual[col] != type_:
                problems.append(f"column {col!r} is {actual[col]}, expected {type_}")
        if self.exact:
            problems += [
                f"unexpected column {c!r} ({t})" for c, t in actual.items() if c not in wanted
            ]
        message = "; ".join(problems) or f"all {len(self.expected)} columns have their types"
        return self.result(
            ctx,
            passed=not problems,
            message=message,
            failed_rows=len(problems),
            sample=problems[:SAMPLE_SIZE],
            problems=problems,
        )

    def arguments(self) -> dict[str, Any]:
        return {"columns": dict(self.expected), "exact": self.exact}


@dataclass(frozen=True, kw_only=True)
class RowCount(TableCheck):
    kind = "row_count"
    min: int | None
    max: int | None

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        low_ok = self.min is None or ctx.rows >= self.min
        high_ok = self.max is None or ctx.rows <= self.max
        if self.min is not None and self.max is not None:
            wanted = f"between {self.min} and {self.max}"
        elif self.min is not None:
            wanted = f"at least {self.min}"
        else:
            wanted = f"at most {self.max}"
        return self.result(
            ctx, passed=low_ok and high_ok, message=f"{ctx.rows} new rows; expected {wanted}"
        )

    def arguments(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max}


@dataclass(frozen=True, kw_only=True)
class Freshness(TableCheck):
    kind = "freshness"
    max_age: dt.timedelta

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        col = self.columns[0]
        types = dict(ctx.schema)
        if col not in types:
            known = ", ".join(types) or "none"
            return self.result(
                ctx, passed=False, message=f"column {col!r} does not exist (columns: {known})"
            )
        if not types[col].upper().startswith(("DATE", "TIMESTAMP")):
            return self.result(
                ctx, passed=False, message=f"column {col!r} is {types[col]}, not a date or time"
            )
        (row,) = ctx.con.execute(
            f"SELECT epoch(max({ident(col)})), CAST(max({ident(col)}) AS VARCHAR) "
            f"FROM {ctx.relation}"
        ).fetchall()
        if row[0] is None:
            return self.result(ctx, passed=False, message=f"column {col!r} has no values")
        now = ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=dt.UTC)
        age = dt.timedelta(seconds=now.timestamp() - float(row[0]))
        passed = age <= self.max_age
        return self.result(
            ctx,
            passed=passed,
            message=f"latest {col} is {row[1]} ({_human(age)} old); "
            f"expected within {_human(self.max_age)}",
            latest=row[1],
            age_seconds=round(age.total_seconds(), 3),
        )

    def arguments(self) -> dict[str, Any]:
        return {"column": self.columns[0], "max_age": self.max_age.total_seconds()}


@dataclass(frozen=True, kw_only=True)
class CustomSql(TableCheck):
    kind = "custom_sql"
    query: str

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        query = self.query.strip().rstrip(";").replace("{rows}", f"(SELECT * FROM {ctx.relation})")
        ((failed,),) = ctx.con.execute(f"SELECT count(*) FROM ({query})").fetchall()
        if not failed:
            return self.result(ctx, passed=True, message="the query returned no rows")
        sampled = ctx.con.execute(f"SELECT * FROM ({query}) LIMIT {SAMPLE_SIZE}")
        names = [d[0] for d in sampled.description or ()]
        sample = [
            {n: json_safe(v) for n, v in zip(names, values, strict=True)}
            for values in sampled.fetchall()
        ]
        pct = round(min(100.0, 100.0 * failed / ctx.rows), 4) if ctx.rows else 0.0
        return self.result(
            ctx,
            passed=False,
            message=f"the query returned {failed} failing rows",
            failed_rows=failed,
            failed_pct=pct,
            sample=sample,
        )

    def arguments(self) -> dict[str, Any]:
        return {"query": self.query}


def schema(
    columns: Mapping[str, str],
    *,
    exact: bool = False,
    policy: Policy | str = "fail",
    name: str | None = None,
) -> Check:
    """Require ``columns`` with their DuckDB types (aliases such as ``int`` or ``string``
    are resolved by DuckDB); with ``exact=True`` no other column may exist.

    Example:
        >>> schema({"id": "bigint", "amount": "double"}).to_dict()["columns"]
        {'id': 'BIGINT', 'amount': 'DOUBLE'}
    """
    if not isinstance(columns, Mapping) or not columns:
        raise ValidationError("schema needs a mapping of column names to types")
    check_columns(columns, "schema")
    expected = tuple((col, normalise_type(str(type_)).upper()) for col, type_ in columns.items())
    return SchemaCheck(
        name=name or "schema",
        policy=check_policy(policy, row_level=False),
        expected=expected,
        exact=exact,
    )


def row_count(
    min: int | None = None,
    max: int | None = None,
    *,
    policy: Policy | str = "fail",
    name: str | None = None,
) -> Check:
    """Require the number of new rows to be at least ``min`` and at most ``max``."""
    for bound in (min, max):
        if bound is not None and (
            not isinstance(bound, int) or isinstance(bound, bool) or bound < 0
        ):
            raise ValidationError(f"row_count bounds must be non-negative integers, not {bound!r}")
    if min is None and max is None:
        raise ValidationError("row_count needs min, max or both")
    if min is not None and max is not None and min > max:
        raise ValidationError(f"row_count: min {min} is above max {max}")
    return RowCount(
        name=name or "row_count", policy=check_policy(policy, row_level=False), min=min, max=max
    )


def freshness(
    column: str,
    max_age: dt.timedelta | str,
    *,
    policy: Policy | str = "fail",
    name: str | None = None,
) -> Check:
    """Require the newest value of the date or timestamp ``column`` to be at most
    ``max_age`` old (a timedelta or a string such as ``"2h"``, ``"30m"``, ``"1d12h"``).
    Timestamps without a time zone are read as UTC, dates as their midnight UTC; a column
    with no values fails.

    Example:
        >>> freshness("updated_at", "2h").to_dict()["max_age"]
        7200.0
    """
    cols = check_columns([column], "freshness")
    return Freshness(
        name=name or f"freshness({column})",
        policy=check_policy(policy, row_level=False),
        columns=cols,
        max_age=parse_duration(max_age),
    )


def custom_sql(name: str, query: str, *, policy: Policy | str = "fail") -> Check:
    """A SELECT that returns the failing rows (as a dbt test does), with ``{rows}`` as
    the table of new rows; the check fails when it returns any row.

    Example:
        >>> custom_sql("refund_without_order", "SELECT * FROM {rows} WHERE amount < 0").kind
        'custom_sql'
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"custom_sql needs a name, not {name!r}")
    if not isinstance(query, str) or "{rows}" not in query:
        raise ValidationError(f"custom_sql {name!r}: the query must read the new rows as {{rows}}")
    check_sql(query.strip().rstrip(";").replace("{rows}", "(SELECT 1)"), f"custom_sql {name!r}")
    return CustomSql(name=name, policy=check_policy(policy, row_level=False), query=query)


def parse_duration(value: dt.timedelta | str) -> dt.timedelta:
    """``value`` as a positive timedelta; strings combine ``w``, ``d``, ``h``, ``m`` and
    ``s`` units: ``"90s"``, ``"1h30m"``, ``"2d"``."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and re.fullmatch(rf"\s*(?:{_DURATION.pattern}\s*)+", value.lower()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(value.lower()))
    else:
        raise ValidationError(
            f"a duration is a timedelta or text like '2h' or '1d12h', not {value!r}"
        )
    if seconds <= 0:
        raise ValidationError(f"a duration must be positive, not {value!r}")
    return dt.timedelta(seconds=seconds)


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + (" ".join(parts[:2]) or "0s")
