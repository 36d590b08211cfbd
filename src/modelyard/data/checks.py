"""Declarative data checks for pipeline loads.

Example:
    >>> from modelyard.data import checks
    >>> pipeline.load("transactions", "cleaned", checks=[
    ...     checks.not_null("transaction_id", "amount"),
    ...     checks.in_range("amount", min=0, max=50_000, policy="quarantine"),
    ...     checks.drift(policy="warn"),
    ... ])
"""

from __future__ import annotations

from modelyard.data._checks import (
    Check,
    CheckContext,
    CheckOutcome,
    allowed_values,
    custom_sql,
    drift,
    expression,
    freshness,
    in_range,
    matches,
    not_null,
    row_count,
    run_checks,
    schema,
    unique,
)

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
