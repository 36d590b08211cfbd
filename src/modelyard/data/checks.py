"""Declarative data checks for pipeline loads, run by DuckDB over the new rows of a load.

Row-level checks (:func:`not_null`, :func:`unique`, :func:`in_range`,
:func:`allowed_values`, :func:`matches`, :func:`expression`) are counted together in one
scan and can quarantine failing rows; table-level checks (:func:`schema`,
:func:`row_count`, :func:`freshness`, :func:`custom_sql`, :func:`drift`) judge the rows as
a whole. Every check has a policy: ``fail`` (nothing is written), ``warn`` or
``quarantine``. Results read as Great Expectations reports them: counts, the share of
failing rows and a sample of failing values.

Example:
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> ctx = CheckContext(
    ...     con, "(SELECT * FROM (VALUES (1), (-5), (NULL)) t(amount))",
    ...     [("amount", "INTEGER")], rows=3,
    ... )
    >>> outcome = run_checks([in_range("amount", min=0), not_null("amount", policy="warn")], ctx)
    >>> for result in outcome.results:
    ...     print(result.message)
    1 of 3 rows (33.3333%) have amount outside [0, inf)
    1 of 3 rows (33.3333%) have a null in amount
"""

from __future__ import annotations

from modelyard.data._checks_base import Check, CheckContext, CheckOutcome, run_checks
from modelyard.data._checks_drift import drift
from modelyard.data._checks_row import (
    allowed_values,
    expression,
    in_range,
    matches,
    not_null,
    unique,
)
from modelyard.data._checks_table import custom_sql, freshness, row_count, schema

__all__ = [
    "Check",
    "CheckContext",
    "CheckOutcome",
    "allowed_values",
    "custom_sql",
    "drift",
    "expression",
    "freshness",
    "in_range",
    "matches",
    "not_null",
    "row_count",
    "run_checks",
    "schema",
    "unique",
]
