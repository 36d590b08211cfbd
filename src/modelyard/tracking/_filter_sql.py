"""Run filters and orderings as SQL over ``runs``, identical on SQLite and PostgreSQL.

A comparison on a metric, param or tag looks for a row of its table, so a run that lacks
the key never matches it (``is null`` asks for exactly that), a NaN metric never matches a
numeric comparison, and every condition is plainly true or false: ``not`` is logical
negation, without SQL's unknowns. Nullable attributes follow the same rule.

Which runs a search visits first is steered, because SQLite plans without statistics. In a
conjunction, the first ``=`` or ``in`` on a metric, param or tag is an ``IN`` subquery that
finds runs through the table's index on the key, and the conjunction's other metric, param
and tag comparisons become correlated ``EXISTS`` probes of those runs by primary key,
instead of lists built in full. When the filter is such a conjunction (or comparison), it
drives the search (:func:`drives_search`) rather than the index on a run's experiment
(:func:`not_narrowing`). Every other comparison is an ``IN`` subquery.

``like`` is case-sensitive everywhere. PostgreSQL's LIKE already is; SQLite's folds ASCII
case, so on SQLite the pattern is translated to GLOB (``%`` to ``*``, ``_`` to ``?``, GLOB's
own ``*?[`` bracketed) by a construct that compiles per dialect. Both use ``\\`` as the
escape character. ``ilike`` folds case on both. Text sorts in code-point order on both
(``COLLATE "C"`` on PostgreSQL, SQLite's default BINARY).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    exists,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from modelyard.store._schema import experiments, latest_metrics, params, run_tags, runs
from modelyard.tracking._filter_grammar import And, Comparison, Expr, Kind, Not, Op, Or, OrderKey

__all__ = ["apply_order_by", "compile_filter", "drives_search", "not_narrowing"]

_SelectT = TypeVar("_SelectT", bound=Select[Any])

_COLUMNS: dict[str, ColumnElement[Any]] = {
    "run_id": runs.c.id,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "experiment_id": runs.c.experiment_id,
    "parent_run_id": runs.c.parent_run_id,
    "git_commit": runs.c.git_commit,
    "user": runs.c.user,
    "source": runs.c.source,
}
_COMPARE: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}
_ESCAPE = "\\"
_RELATED = (Kind.METRIC, Kind.PARAM, Kind.TAG)
_DRIVING_OPS = (Op.EQ, Op.IN)


def compile_filter(expr: Expr | None) -> ColumnElement[bool]:
    """The SQL condition on ``runs`` for a parsed filter; None matches every run.

    Example:
        >>> from sqlalchemy import select
        >>> from modelyard.tracking._filter import parse_filter
        >>> stmt = select(runs.c.id).where(compile_filter(parse_filter("metrics.auc > 0.9")))
    """
    if expr is None:
        return true()
    if isinstance(expr, And):
        driver = _driver(expr.items)
        if driver is not None:
            return and_(
                *(_probe_or_compile(item, i != driver) for i, item in enumerate(expr.items))
            )
        return and_(*(compile_filter(item) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(compile_filter(item) for item in expr.items))
    if isinstance(expr, Not):
        return not_(compile_filter(expr.item))
    return _comparison(expr, probe=False)


def drives_search(expr: Expr | None) -> bool:
    """Whether :func:`compile_filter` makes one comparison of ``expr`` drive the search."""
    if isinstance(expr, And):
        return _driver(expr.items) is not None
    return expr is not None and _driver((expr,)) is not None


def _driver(items: Sequence[Expr]) -> int | None:
    """The first ``=`` or ``in`` on a metric, param or tag: likely the most selective."""
    for i, item in enumerate(items):
        if isinstance(item, Comparison) and item.kind in _RELATED and item.op in _DRIVING_OPS:
            return i
    return None


def _probe_or_compile(expr: Expr, probe: bool) -> ColumnElement[bool]:
    if probe and isinstance(expr, Comparison):
        return _comparison(expr, probe=True)
    return compile_filter(expr)


def _comparison(cmp: Comparison, *, probe: bool) -> ColumnElement[bool]:
    if cmp.kind is Kind.METRIC:
        t = latest_metrics
        row = t.c.key == cmp.key
        return _lookup(runs.c.id, t.c.run_id, row, t.c.value, cmp, ~t.c.is_nan, probe=probe)
    if cmp.kind in (Kind.PARAM, Kind.TAG):
        table = params if cmp.kind is Kind.PARAM else run_tags
        row = table.c.key == cmp.key
        return _lookup(runs.c.id, table.c.run_id, row, table.c.value, cmp, probe=probe)
    if cmp.key == "experiment":
        return _lookup(runs.c.experiment_id, experiments.c.id, true(), experiments.c.name, cmp)
    column = _COLUMNS[cmp.key]
    if cmp.op is Op.IS_NULL:
        return column.is_(None)
    if cmp.op is Op.IS_NOT_NULL:
        return column.is_not(None)
    test = _test(column, cmp)
    return and_(column.is_not(None), test) if _nullable(column) else test


def _lookup(
    outer: ColumnElement[str],
    inner: ColumnElement[str],
    row: ColumnElement[bool],
    column: ColumnElement[Any],
    cmp: Comparison,
    *extra: ColumnElement[bool],
    probe: bool = False,
) -> ColumnElement[bool]:
    """A related row (the run's metric, param, tag or experiment) passes the test.

    Written as ``outer IN (SELECT inner ... WHERE test)``, so that the planner can start
    from the (key, value) index of the related table instead of probing it once per run;
    or, with ``probe``, as a correlated ``EXISTS`` that looks up the run's row by primary
    key, for a comparison checked on runs that another one has already found. ``inner``
    is never NULL, so ``NOT IN`` is safe for ``is null``.
    """
    conditions = [row]
    if cmp.op not in (Op.IS_NULL, Op.IS_NOT_NULL):
        conditions += [*extra, _test(column, cmp)]
    if probe:
        found = exists().where(inner == outer, *conditions)
        return ~found if cmp.op is Op.IS_NULL else found
    related = select(inner).where(*conditions)
    return outer.not_in(related) if cmp.op is Op.IS_NULL else outer.in_(related)


def _test(column: ColumnElement[Any], cmp: Comparison) -> ColumnElement[bool]:
    # Values are bound with the column's type: left to itself SQLAlchemy types a bound
    # value from the Python value (the first one, for a list), and PostgreSQL then casts
    # 0.5 in `metrics.a in (1, 0.5)` to INTEGER.
    op, value = cmp.op, cmp.value
    if op in _COMPARE:
        result: ColumnElement[bool] = _COMPARE[op](column, literal(value, column.type))
        return result
    if op in (Op.IN, Op.NOT_IN):
        # one bound value each rather than one expanding parameter, so that the statement
        # compiles to final SQL text once (see _prepared.py)
        assert isinstance(value, tuple)
        values = [literal(item, column.type) for item in value]
        return column.in_(values) if op is Op.IN else column.not_in(values)
    assert isinstance(value, str)
    if op is Op.LIKE:
        return _like(column, value)
    if op is Op.NOT_LIKE:
        return not_(_like(column, value))
    if op is Op.ILIKE:
        return column.ilike(value, escape=_ESCAPE)
    return column.not_ilike(value, escape=_ESCAPE)


def _nullable(column: ColumnElement[Any]) -> bool:
    return bool(getattr(column, "nullable", True))


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'`` that respects case on every dialect.

    It carries the LIKE pattern and its GLOB translation as two bound values; each dialect
    renders one of them, and both are part of the statement cache key.
    """

    name = "case_sensitive_like"
    type = Boolean()
    inherit_cache = True


def _like(column: ColumnElement[Any], pattern: str) -> ColumnElement[bool]:
    # as_comparison marks the function as a boolean condition, so SQLite does not get
    # "= 1" appended to it
    like = _CaseSensitiveLike(column, literal(pattern), literal(_glob(pattern)))
    return like.as_comparison(1, 2)


@compiles(_CaseSensitiveLike)
def _render_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob_pattern = element.clauses
    return compiler.process(column.like(pattern, escape=_ESCAPE), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _render_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _like_pattern, glob = element.clauses
    return compiler.process(column.op("GLOB", is_comparison=True)(glob), **kw)


_GLOB_LITERALS = {"*": "[*]", "?": "[?]", "[": "[[]"}
_GLOB_WILDCARDS = {"%": "*", "_": "?"}


def _glob(pattern: str) -> str:
    """Translate a LIKE pattern (``\\`` escapes) into the GLOB pattern that means the same."""
    out = []
    chars = iter(pattern)
    for char in chars:
        if char == _ESCAPE:
            escaped = next(chars, _ESCAPE)
            out.append(_GLOB_LITERALS.get(escaped, escaped))
        else:
            out.append(_GLOB_WILDCARDS.get(char) or _GLOB_LITERALS.get(char, char))
    return "".join(out)


class _Unindexed(FunctionElement[str]):
    """A column whose conditions the planner should not answer from an index.

    SQLite, which plans without statistics, otherwise starts from the index on a run's
    experiment rather than from the index of a comparison that :func:`drives_search`. Its
    unary ``+`` keeps the value (and collation) and takes the term off the index; other
    dialects render the bare column.
    """

    name = "unindexed"
    type = String()
    inherit_cache = True


def not_narrowing(column: ColumnElement[str]) -> ColumnElement[str]:
    """``column`` for a condition that should not drive the search (see :class:`_Unindexed`)."""
    return _Unindexed(column)


@compiles(_Unindexed)
def _render_column(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)


@compiles(_Unindexed, "sqlite")
def _render_unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"+{compiler.process(column, **kw)}"


class _CodePointOrder(FunctionElement[str]):
    """A text expression sorted by code point: ``COLLATE "C"`` on PostgreSQL."""

    name = "code_point_order"
    type = String()
    inherit_cache = True


@compiles(_CodePointOrder)
def _render_plain(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (expression,) = element.clauses
    return compiler.process(expression, **kw)


@compiles(_CodePointOrder, "postgresql")
def _render_collated(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (expression,) = element.clauses
    return compiler.process(expression.collate("C"), **kw)


def apply_order_by(stmt: _SelectT, keys: Sequence[OrderKey]) -> _SelectT:
    """Order a select over ``runs`` by ``keys``; missing values last in either direction.

    Each metric, param or tag key left-outer-joins its own alias of that table. NaN
    metrics sort after numbers and before missing ones. ``start_time DESC, id`` always
    ends the ordering, so pages of a paginated search neither overlap nor skip runs.
    """
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        stmt, rank, value = _order_value(stmt, key)
        if rank is not None:
            clauses.append(rank)
        clauses.append(value.asc() if key.ascending else value.desc())
    return stmt.order_by(*clauses, runs.c.start_time.desc(), runs.c.id)


def _order_value(
    stmt: _SelectT, key: OrderKey
) -> tuple[_SelectT, ColumnElement[int] | None, ColumnElement[Any]]:
    if key.kind is Kind.METRIC:
        metric = latest_metrics.alias()
        on = and_(metric.c.run_id == runs.c.id, metric.c.key == key.key)
        rank = case((metric.c.run_id.is_(None), 2), (metric.c.is_nan, 1), else_=0)
        return stmt.outerjoin_from(runs, metric, on), rank, metric.c.value
    if key.kind in (Kind.PARAM, Kind.TAG):
        table = (params if key.kind is Kind.PARAM else run_tags).alias()
        on = and_(table.c.run_id == runs.c.id, table.c.key == key.key)
        stmt = stmt.outerjoin_from(runs, table, on)
        missing = case((table.c.run_id.is_(None), 1), else_=0)
        return stmt, missing, _CodePointOrder(table.c.value)
    if key.key == "experiment":
        experiment = experiments.alias()
        stmt = stmt.outerjoin_from(runs, experiment, experiment.c.id == runs.c.experiment_id)
        return stmt, None, _CodePointOrder(experiment.c.name)
    column = _COLUMNS[key.key]
    value = _CodePointOrder(column) if isinstance(column.type, String) else column
    nulls = case((column.is_(None), 1), else_=0) if _nullable(column) else None
    return stmt, nulls, value
