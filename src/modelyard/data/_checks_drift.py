"""The drift check: the new rows against the previous version, column by column.

Both versions are sampled by DuckDB (reservoir sampling with a fixed seed, so a rerun
compares the same rows) and each column is compared with
:func:`modelyard.data._drift.drift`. ``failed_rows`` is the number of drifted columns and
the sample names them; ``details["results"]`` holds every column's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from modelyard.data._checks_base import (
    Check,
    CheckContext,
    TableCheck,
    check_columns,
    check_policy,
)
from modelyard.data._drift import METHODS, DriftResult, Kind, column_kind
from modelyard.data._drift import drift as compare
from modelyard.data._duck import ident
from modelyard.data._stats import relation_schema
from modelyard.data._types import CheckResult, Policy
from modelyard.errors import ValidationError

__all__ = ["drift"]

_SEED = 42
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "UHUGEINT")  # fmt: skip
_ID_MIN_ROWS = 100  # an integer column distinct in at least this many sampled rows is an id


@dataclass(frozen=True, kw_only=True)
class DriftCheck(TableCheck):
    kind = "drift"
    threshold: float | None
    method: str
    sample: int

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        if ctx.previous is None:
            return self.result(ctx, passed=True, message="no previous version to compare with")
        types = dict(ctx.schema)
        missing = [c for c in self.columns if c not in types]
        if missing:
            known = ", ".join(types) or "none"
            message = f"column {missing[0]!r} does not exist (columns: {known})"
            return self.result(ctx, passed=False, message=message)
        before = dict(relation_schema(ctx.con, ctx.previous))
        plan, skipped = self._plan(types, before)
        if isinstance(plan, str):
            return self.result(ctx, passed=False, message=plan)
        results = self._compare(ctx, plan, skipped) if plan else {}
        drifted = [c for c, r in results.items() if r.drifted]
        if drifted:
            shown = ", ".join(f"{c} ({_explain(results[c])})" for c in drifted)
            message = f"{len(drifted)} of {len(results)} columns drifted: {shown}"
        else:
            message = f"no drift in {len(results)} columns"
        if skipped:
            message += f" ({len(skipped)} not compared: {', '.join(skipped)})"
        return self.result(
            ctx,
            passed=not drifted,
            message=message,
            failed_rows=len(drifted),
            sample=drifted,
            results={c: r.to_dict() for c, r in results.items()},
            skipped=skipped,
        )

    def _compare(
        self, ctx: CheckContext, plan: list[tuple[str, Kind]], skipped: dict[str, str]
    ) -> dict[str, DriftResult]:
        """Each planned column compared on samples of both versions; columns found unfit
        for comparison (when none were named) are added to ``skipped``."""
        assert ctx.previous is not None
        types = dict(ctx.schema)
        reference = self._draw(ctx.con, ctx.previous, plan)
        current = self._draw(ctx.con, ctx.relation, plan)
        results: dict[str, DriftResult] = {}
        for (col, kind), ref, cur in zip(plan, reference, current, strict=True):
            unfit = None if self.columns else _unfit(types[col], kind, ref)
            if unfit is not None:
                skipped[col] = unfit
                continue
            results[col] = compare(
                ref, cur, kind=kind, method=self.method, threshold=self.threshold
            )
        return results

    def _plan(
        self, types: dict[str, str], before: dict[str, str]
    ) -> tuple[list[tuple[str, Kind]] | str, dict[str, str]]:
        """The columns to compare and their kinds, the skipped ones with why; or an error."""
        plan: list[tuple[str, Kind]] = []
        skipped: dict[str, str] = {}
        for col in self.columns or tuple(types):
            kind = column_kind(types[col])
            if col not in before:
                skipped[col] = "not in the previous version"
            elif kind == "unsupported":
                skipped[col] = f"{types[col]} columns are not compared"
            elif kind == "categorical" and self.method in ("ks", "wasserstein"):
                if self.columns:
                    return f"{self.method} compares numbers; column {col!r} is {types[col]}", {}
                skipped[col] = f"{self.method} compares numbers only"
            else:
                plan.append((col, kind))
        return plan, skipped

    def _draw(
        self, con: duckdb.DuckDBPyConnection, relation: str, plan: list[tuple[str, Kind]]
    ) -> list[list[Any]]:
        """A sample of the planned columns (at most ``sample`` rows), one list per column."""
        exprs = ", ".join(
            f"CAST({ident(c)} AS {'DOUBLE' if kind == 'numeric' else 'VARCHAR'}) AS {ident(c)}"
            for c, kind in plan
        )
        query = (
            f"SELECT {exprs} FROM {relation} "
            f"USING SAMPLE reservoir({self.sample} ROWS) REPEATABLE ({_SEED})"
        )
        # a DB-API result, not con.sql(): that refuses to run while a caller holds one
        columns = con.execute(query).fetchnumpy()
        return [columns[c].tolist() for c, _ in plan]

    def arguments(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns) or None,
            "threshold": self.threshold,
            "method": self.method,
            "sample": self.sample,
        }


def drift(
    columns: Sequence[str] | str | None = None,
    *,
    threshold: float | None = None,
    method: str = "auto",
    sample: int = 50_000,
    policy: Policy | str = "fail",
    name: str | None = None,
) -> Check:
    """Fail when the distribution of a column of the new rows drifted from the previous
    version (see :func:`modelyard.data._drift.drift` for the methods and defaults).

    Both sides are sampled (``sample`` rows each, with a fixed seed). Without ``columns``,
    every numeric, boolean and text column in both versions is compared, except what
    always looks drifted: text with more than 1000 distinct values, integers that are
    all distinct (ids), dates and timestamps. The first version passes: there is nothing
    to compare with.
    """
    cols = (
        ()
        if columns is None
        else check_columns([columns] if isinstance(columns, str) else columns, "drift")
    )
    if method != "auto" and method not in METHODS:
        raise ValidationError(
            f"unknown drift method {method!r}; use 'auto' or one of {', '.join(METHODS)}"
        )
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0
    ):
        raise ValidationError(f"drift threshold must be a positive number, not {threshold!r}")
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValidationError(f"drift sample must be a positive number of rows, not {sample!r}")
    return DriftCheck(
        name=name or "drift",
        policy=check_policy(policy, row_level=False),
        columns=cols,
        threshold=None if threshold is None else float(threshold),
        method=method,
        sample=sample,
    )


def _unfit(type_: str, kind: Kind, values: list[Any]) -> str | None:
    """Why a column not named by the user is left out: ids and free text always drift."""
    present = [v for v in values if v is not None]
    distinct = len(set(present))
    if kind == "categorical" and column_kind(type_, distinct) == "unsupported":
        return f"{distinct} distinct values: too many categories"
    if type_.upper() in _INTEGERS and len(present) >= _ID_MIN_ROWS and distinct == len(present):
        return "every value is distinct: an id"
    return None


def _explain(result: DriftResult) -> str:
    if result.p_value is not None:
        return f"{result.method} p={result.p_value:.3g} < {result.threshold:g}"
    return f"{result.method} {result.statistic:.3g} >= {result.threshold:g}"
