"""The check contract and the runner that evaluates a list of checks over new rows.

A row-level check gives a SQL boolean that is TRUE for a failing row; :func:`run_checks`
counts the failures of every row-level check in one aggregate query (one scan of the new
rows, however many checks), then fetches a few failing values only for the checks that
failed. A table-level check evaluates itself (schema, row count, freshness, drift, custom
SQL). Declarations are validated when they are made, so a bad one fails before any scan.
"""

from __future__ import annotations

import abc
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import duckdb

from modelyard.data._duck import ident, literal
from modelyard.data._stats import json_safe
from modelyard.data._types import CheckResult, Policy
from modelyard.errors import ValidationError

__all__ = [
    "SAMPLE_SIZE",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "RowCheck",
    "TableCheck",
    "check_columns",
    "check_policy",
    "check_regex",
    "check_sql",
    "normalise_type",
    "run_checks",
]

SAMPLE_SIZE = 5  # failing values reported per check

_validator: duckdb.DuckDBPyConnection | None = None
_validator_lock = threading.Lock()


@dataclass(frozen=True)
class CheckContext:
    """What checks run against: the new rows of one load and the version before it.

    ``relation``, ``previous`` and ``combined`` are DuckDB FROM-clause expressions, such
    as ``read_parquet(['/x/staged.parquet'])``; ``combined`` (previous plus new rows) is
    given for append loads only. ``now`` is the UTC time freshness is measured from.
    """

    con: duckdb.DuckDBPyConnection
    relation: str
    schema: list[tuple[str, str]]
    rows: int
    previous: str | None = None
    combined: str | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def column_names(self) -> list[str]:
        return [name for name, _ in self.schema]


@dataclass(frozen=True, kw_only=True)
class Check(abc.ABC):
    """One declared check. Build checks with the constructor functions (``not_null``,
    ``in_range``, ...); ``to_dict`` gives the declaration as JSON."""

    kind: ClassVar[str]
    name: str
    policy: Policy
    columns: tuple[str, ...] = ()

    @property
    def column(self) -> str | None:
        """The checked column(s), comma-separated, or None for a whole-table check."""
        return ", ".join(self.columns) or None

    def failing_sql(self, ctx: CheckContext) -> str | None:  # noqa: ARG002 - for overrides
        """A SQL boolean, never NULL, TRUE for a failing row; None for table-level checks."""
        return None

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        """The result of this check alone."""
        return run_checks([self], ctx).results[0]

    @abc.abstractmethod
    def arguments(self) -> dict[str, Any]:
        """The declared arguments, JSON-safe."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "policy": str(self.policy)} | (
            self.arguments()
        )

    def result(
        self,
        ctx: CheckContext,
        *,
        passed: bool,
        message: str,
        failed_rows: int = 0,
        failed_pct: float = 0.0,
        sample: Iterable[Any] = (),
        **extra: Any,
    ) -> CheckResult:
        """A result of this check; ``extra`` is added to the declaration in ``details``."""
        return CheckResult(
            name=self.name,
            check=self.kind,
            policy=self.policy,
            passed=passed,
            column=self.column,
            rows=ctx.rows,
            failed_rows=failed_rows,
            failed_pct=failed_pct,
            sample=tuple(sample),
            message=message,
            details=self.to_dict() | extra,
        )


@dataclass(frozen=True, kw_only=True)
class RowCheck(Check):
    """A check that every row must pass; failing rows can be quarantined."""

    @abc.abstractmethod
    def condition(self, ctx: CheckContext) -> str:
        """SQL that is TRUE for a failing row (NULL is read as passing)."""

    @abc.abstractmethod
    def describe(self, ctx: CheckContext) -> str:
        """What failing rows have, after "12 of 1000 rows": ``have amount outside [0, 1]``."""

    def failing_sql(self, ctx: CheckContext) -> str:
        return f"coalesce(({self.condition(ctx)}), FALSE)"

    def sample_sql(self) -> str | None:
        """What to report of failing rows: the column, or a struct of the columns."""
        if len(self.columns) == 1:
            return ident(self.columns[0])
        return "{" + ", ".join(f"{literal(c)}: {ident(c)}" for c in self.columns) + "}"


@dataclass(frozen=True, kw_only=True)
class TableCheck(Check):
    """A check over the whole table (or the new rows as a whole)."""

    @abc.abstractmethod
    def evaluate(self, ctx: CheckContext) -> CheckResult: ...


@dataclass(frozen=True)
class CheckOutcome:
    """The results of a list of checks, plus the SQL that splits off quarantined rows.

    ``quarantine_sql`` is TRUE for rows that fail a quarantine-policy check (None when no
    row does); ``reason_sql`` gives per row the names of those checks, joined by ``; ``.
    Both are evaluated over ``ctx.relation``: ``SELECT *, {reason_sql} AS reason FROM
    {relation} WHERE {quarantine_sql}``.
    """

    results: list[CheckResult]
    quarantine_sql: str | None = None
    reason_sql: str | None = None

    @property
    def failed(self) -> list[CheckResult]:
        """Failed checks under the ``fail`` policy: the load must not be written."""
        return [r for r in self.results if not r.passed and r.policy is Policy.FAIL]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks under the ``warn`` policy."""
        return [r for r in self.results if not r.passed and r.policy is Policy.WARN]

    @property
    def quarantined(self) -> list[CheckResult]:
        """Failed checks under the ``quarantine`` policy."""
        return [r for r in self.results if not r.passed and r.policy is Policy.QUARANTINE]

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.results]


def run_checks(checks: Sequence[Check], ctx: CheckContext) -> CheckOutcome:
    """Evaluate ``checks`` over the new rows of ``ctx``.

    Row-level checks are counted in one aggregate query; a check that cannot be evaluated
    (an unknown column, a type that does not compare) becomes a failed result, not an
    exception.

    Raises:
        ValidationError: ``checks`` holds something that is not a check, two checks with
            the same name, or a row-level check whose SQL does not parse; raised before
            any row is read.
    """
    _check_names(checks)
    results: list[CheckResult | None] = [None] * len(checks)
    runnable: list[tuple[int, RowCheck, str]] = []
    for i, check in enumerate(checks):
        if isinstance(check, RowCheck):
            problem = _bind_problem(check, ctx)
            if problem is not None:
                results[i] = check.result(ctx, passed=False, message=problem)
            else:
                runnable.append((i, check, check.failing_sql(ctx)))
    counts = _failing_counts(ctx, [sql for _, _, sql in runnable])
    quarantine: list[tuple[str, str]] = []
    for (i, check, sql), count in zip(runnable, counts, strict=True):
        if isinstance(count, str):
            results[i] = check.result(ctx, passed=False, message=f"cannot evaluate: {count}")
            continue
        results[i] = _row_result(check, ctx, sql, count)
        if count and check.policy is Policy.QUARANTINE:
            quarantine.append((check.name, sql))
    for i, check in enumerate(checks):
        if results[i] is None:
            results[i] = _evaluate_table(check, ctx)
    done = [r for r in results if r is not None]
    if not quarantine:
        return CheckOutcome(done)
    reasons = ", ".join(f"CASE WHEN {sql} THEN {literal(name)} END" for name, sql in quarantine)
    return CheckOutcome(
        done,
        quarantine_sql=" OR ".join(f"({sql})" for _, sql in quarantine),
        reason_sql=f"concat_ws('; ', {reasons})",
    )


def _check_names(checks: Sequence[Check]) -> None:
    seen: set[str] = set()
    for check in checks:
        if not isinstance(check, Check):
            raise ValidationError(f"not a check: {check!r}; build checks with not_null(), ...")
        if check.name in seen:
            raise ValidationError(
                f"two checks are named {check.name!r}; give one of them another name="
            )
        seen.add(check.name)


def _bind_problem(check: RowCheck, ctx: CheckContext) -> str | None:
    known = ctx.column_names()
    missing = [c for c in check.columns if c not in known]
    if missing:
        return f"column {missing[0]!r} does not exist (columns: {', '.join(known) or 'none'})"
    try:  # binds without reading rows, so a type error does not abort the shared scan
        ctx.con.execute(f"DESCRIBE SELECT {check.failing_sql(ctx)} FROM {ctx.relation}").fetchall()
    except duckdb.ParserException as exc:
        raise ValidationError(f"check {check.name!r} is not valid SQL: {exc}") from exc
    except duckdb.Error as exc:
        return f"cannot evaluate: {_first_line(exc)}"
    return None


def _failing_counts(ctx: CheckContext, conditions: list[str]) -> list[int | str]:
    """Failing rows per condition, in one scan; an error message where one fails."""
    if not conditions:
        return []
    filters = ", ".join(f"count(*) FILTER (WHERE {sql})" for sql in conditions)
    try:
        (row,) = ctx.con.execute(f"SELECT {filters} FROM {ctx.relation}").fetchall()
    except duckdb.Error:  # a runtime error (a failed cast) in one check: isolate it
        return [_failing_count(ctx, sql) for sql in conditions]
    return [int(n) for n in row]


def _failing_count(ctx: CheckContext, sql: str) -> int | str:
    try:
        ((count,),) = ctx.con.execute(
            f"SELECT count(*) FILTER (WHERE {sql}) FROM {ctx.relation}"
        ).fetchall()
    except duckdb.Error as exc:
        return _first_line(exc)
    return int(count)


def _row_result(check: RowCheck, ctx: CheckContext, sql: str, failed: int) -> CheckResult:
    what = check.describe(ctx)
    if not failed:
        message = f"all {ctx.rows} rows pass (none {what})" if ctx.rows else "no rows to check"
        return check.result(ctx, passed=True, message=message)
    pct = round(100.0 * failed / ctx.rows, 4) if ctx.rows else 0.0
    sample: list[Any] = []
    expr = check.sample_sql()
    if expr is not None:
        query = (
            f"SELECT DISTINCT {expr} AS v FROM {ctx.relation} WHERE {sql} "
            f"ORDER BY v NULLS FIRST LIMIT {SAMPLE_SIZE}"
        )
        sample = [_json_value(v) for (v,) in ctx.con.execute(query).fetchall()]
    return check.result(
        ctx,
        passed=False,
        message=f"{failed} of {ctx.rows} rows ({pct:g}%) {what}",
        failed_rows=failed,
        failed_pct=pct,
        sample=sample,
    )


def _evaluate_table(check: Check, ctx: CheckContext) -> CheckResult:
    try:
        return check.evaluate(ctx)
    except duckdb.Error as exc:
        return check.result(ctx, passed=False, message=f"cannot evaluate: {_first_line(exc)}")


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return json_safe(value)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- helpers the constructor functions share ------------------------------------------------


def check_policy(policy: Policy | str, *, row_level: bool) -> Policy:
    """``policy`` as a :class:`Policy`; quarantine needs a row-level check."""
    try:
        value = Policy(str(policy).lower())
    except ValueError:
        choices = ", ".join(p.value for p in Policy)
        raise ValidationError(f"unknown policy {policy!r}; use one of {choices}") from None
    if value is Policy.QUARANTINE and not row_level:
        raise ValidationError(
            "the quarantine policy needs a row-level check (not_null, unique, in_range, "
            "allowed_values, matches, expression); use fail or warn"
        )
    return value


def check_columns(columns: Iterable[Any], what: str) -> tuple[str, ...]:
    """``columns`` as a tuple of distinct, non-empty names; at least one."""
    names = tuple(columns)
    if not names:
        raise ValidationError(f"{what} needs at least one column")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"{what}: column names must be non-empty strings, not {name!r}")
    if len(set(names)) != len(names):
        raise ValidationError(f"{what}: a column is named twice in {list(names)}")
    return names


def check_sql(sql: str, what: str) -> None:
    """Parse ``sql`` (without running it): it must be one SELECT statement."""
    try:
        with _validator_lock:
            statements = _validation_connection().extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationError(f"{what} is not valid SQL: {_first_line(exc)}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ValidationError(f"{what} must be a single SELECT")


def normalise_type(type_: str) -> str:
    """A DuckDB type name as DuckDB spells it (``int`` -> ``INTEGER``), upper-cased."""
    check_sql(f"SELECT CAST(NULL AS {type_})", f"type {type_!r}")
    return str(_validate_value(f"SELECT typeof(CAST(NULL AS {type_}))", f"type {type_!r}"))


def _validate_value(sql: str, what: str) -> Any:
    """Run a constant query on a private in-memory DuckDB (no data): a declaration check."""
    try:
        with _validator_lock:
            ((value,),) = _validation_connection().execute(sql).fetchall()
    except duckdb.Error as exc:
        raise ValidationError(f"{what} is not valid: {_first_line(exc)}") from exc
    return value


def check_regex(pattern: str) -> None:
    """Compile ``pattern`` with DuckDB's RE2, which ``regexp_full_match`` uses."""
    _validate_value(f"SELECT regexp_full_match('', {literal(pattern)})", f"regex {pattern!r}")


def _validation_connection() -> duckdb.DuckDBPyConnection:
    global _validator
    if _validator is None:
        _validator = duckdb.connect(":memory:")
    return _validator
