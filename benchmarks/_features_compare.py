"""Do Feast and modelyard give the same values? Compares the samples both workers print.

- Historical: the first ``--sample`` entity rows (by ``row_id``; the rows are random, so
  this is a random sample): same keys and timestamps, and every feature value identical
  (floats exactly; NaN and null are the same missing value). Over all rows, the same row
  count, the same number of missing values and the same sum per feature (to 1e-9).
- Online: the same entities (some unknown to both), the same event timestamp and every
  feature value identical. Timestamps are compared in whole seconds: Feast's SQLite
  online store keeps whole seconds only (the data has milliseconds).
"""

from __future__ import annotations

import math
from typing import Any

EXAMPLES = 5  # mismatches shown per part


def _rows(sample: dict[str, Any], fields: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(sample[f] for f in fields), strict=True))


def _seconds(micros: int | None) -> int | None:
    return None if micros is None else micros // 1_000_000


def compare_rows(
    feast: dict[str, Any], ours: dict[str, Any], key: str, features: list[str], exact_ts: bool
) -> dict[str, Any]:
    """Mismatched values between two samples aligned on ``key`` (same order both sides)."""
    if feast[key] != ours[key]:
        return {"compared": 0, "mismatches": 1, "examples": [f"the {key} lists differ"]}
    stamp = (lambda t: t) if exact_ts else _seconds
    mismatches, examples = 0, []
    fields = ["event_timestamp_us", *features]
    if key != "user_id":
        fields.insert(0, "user_id")
    for k, a, b in zip(feast[key], _rows(feast, fields), _rows(ours, fields), strict=True):
        for name, x, y in zip(fields, a, b, strict=True):
            same = stamp(x) == stamp(y) if name == "event_timestamp_us" else x == y
            if not same:
                mismatches += 1
                if len(examples) < EXAMPLES:
                    examples.append(f"{key}={k} {name}: Feast {x!r}, modelyard {y!r}")
    return {
        "compared": len(feast[key]) * len(fields),
        "rows": len(feast[key]),
        "mismatches": mismatches,
        "examples": examples,
    }


def compare_summaries(feast: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Row count, missing values and sums of every historical feature column."""
    problems = []
    if feast["rows"] != ours["rows"]:
        problems.append(f"rows: Feast {feast['rows']}, modelyard {ours['rows']}")
    for name, count in feast["missing"].items():
        if ours["missing"].get(name) != count:
            problems.append(f"{name} missing: Feast {count}, modelyard {ours['missing'].get(name)}")
    for name, total in feast["sums"].items():
        other = ours["sums"].get(name)
        if other is None or not math.isclose(total, other, rel_tol=1e-9, abs_tol=1e-6):
            problems.append(f"{name} sum: Feast {total!r}, modelyard {other!r}")
    return {"mismatches": len(problems), "examples": problems[:EXAMPLES]}


def compare(feast: dict[str, Any], ours: dict[str, Any], features: list[str]) -> dict[str, Any]:
    """Every comparison that both results allow; a part either lacks is ``unavailable``."""
    a, b = feast.get("samples", {}), ours.get("samples", {})
    out: dict[str, Any] = {}
    if "historical" in a and "historical" in b:
        out["historical"] = compare_rows(a["historical"], b["historical"], "row_id", features, True)
        out["historical_totals"] = compare_summaries(
            a["historical_summary"], b["historical_summary"]
        )
    else:
        out["historical"] = out["historical_totals"] = "unavailable"
    if "online" in a and "online" in b:
        out["online"] = compare_rows(a["online"], b["online"], "user_id", features, False)
        out["online"]["statuses"] = {
            "feast": a["online"]["statuses"],
            "modelyard": b["online"]["statuses"],
        }
    else:
        out["online"] = "unavailable"
    return out


def total_mismatches(found: dict[str, Any]) -> int:
    return sum(part["mismatches"] for part in found.values() if isinstance(part, dict))
