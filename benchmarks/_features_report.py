"""The tables of ``benchmarks/features.py``: times side by side with the goals, and values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _features_common import UNAVAILABLE
from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One measure: where its time is in a worker's JSON, and the goal (how many times faster
    than Feast modelyard must be; ``None``: shown, no goal)."""

    label: str
    section: str
    field: str
    goal: float | None
    unit: str = "ms"

    def seconds(self, result: dict[str, Any] | None) -> float | None:
        part = (result or {}).get(self.section)
        return float(part[self.field]) if isinstance(part, dict) else None

    def shown(self, result: dict[str, Any] | None) -> str:
        if result is None:
            return "skipped"
        seconds = self.seconds(result)
        if seconds is None:
            return "error" if "error" in result else str(result.get(self.section, UNAVAILABLE))
        return f"{seconds:,.2f}" if self.unit == "s" else f"{seconds * 1000:,.2f}"

    def ratio(self, feast: dict[str, Any] | None, ours: dict[str, Any]) -> float | None:
        """Feast's time over modelyard's: above 1, modelyard is faster."""
        theirs, mine = self.seconds(feast), self.seconds(ours)
        return theirs / mine if theirs and mine else None


def rows_for(meta: dict[str, Any], batch_size: int) -> tuple[Row, ...]:
    entities, rows, entity_rows = meta["entities"], meta["rows"], meta["entity_rows"]
    return (
        Row(f"materialize {entities:,} entities (s)", "materialize", "seconds", 20.0, "s"),
        Row("online, 1 entity: p50 (ms)", "online_1", "p50_s", 5.0),
        Row("online, 1 entity: p99 (ms)", "online_1", "p99_s", None),
        Row(f"online, {batch_size} entities: p50 (ms)", "online_100", "p50_s", 5.0),
        Row(f"online, {batch_size} entities: p99 (ms)", "online_100", "p99_s", None),
        Row(f"historical, {entity_rows:,} rows x {rows:,} (s)", "historical", "seconds", 10.0, "s"),
    )


def ratios(rows: tuple[Row, ...], feast: dict[str, Any] | None, ours: dict[str, Any]) -> dict:
    return {f"{r.section}.{r.field}": r.ratio(feast, ours) for r in rows}


def times_table(rows: tuple[Row, ...], feast: dict[str, Any] | None, ours: dict[str, Any]) -> Table:
    out = Table(title="Feature store: modelyard vs Feast (SQLite online store, local files)")
    for header in ("measure", "Feast", "modelyard", "Feast/modelyard", "goal", ""):
        out.add_column(header, justify="left" if header == "measure" else "right")
    for row in rows:
        times = row.ratio(feast, ours)
        goal = f"≥{row.goal:g}x" if row.goal else "-"
        if times is None:
            out.add_row(row.label, row.shown(feast), row.shown(ours), "-", goal, "")
            continue
        mark = "" if row.goal is None else "[green]pass[/]" if times >= row.goal else "[red]FAIL[/]"
        shown = f"{times:,.1f}x" if times >= 1 else f"{times:.2f}x"
        out.add_row(row.label, row.shown(feast), row.shown(ours), shown, goal, mark)
    return out


def values_table(found: dict[str, Any]) -> Table:
    out = Table(title="Same values? (NaN and null alike; online timestamps in whole seconds)")
    for header in ("comparison", "compared", "mismatches", "first mismatches"):
        out.add_column(header, justify="left" if header != "mismatches" else "right")
    labels = {
        "historical": "historical sample (keys, timestamps, values)",
        "historical_totals": "historical, all rows (count, missing, sums)",
        "online": "online sample (timestamps, values)",
    }
    for part, label in labels.items():
        got = found.get(part, UNAVAILABLE)
        if not isinstance(got, dict):
            out.add_row(label, "-", str(got), "")
            continue
        count = got["mismatches"]
        shown = f"[green]{count}[/]" if count == 0 else f"[red]{count}[/]"
        compared = f"{got['compared']:,} values" if "compared" in got else "per feature"
        out.add_row(label, compared, shown, "\n".join(got["examples"]))
    return out
