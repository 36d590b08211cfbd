"""How the CLI prints: rich tables for people, ``--json`` for programs."""

from __future__ import annotations

import json
import math
import shutil
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

__all__ = ["console", "emit_json", "fmt_duration", "fmt_time", "fmt_value", "stderr"]

# Piped output is not cut to 80 columns: wide tables stay readable in logs (--json is for
# programs).
_WIDTH = max(shutil.get_terminal_size((160, 40)).columns, 100)
console = Console(highlight=False, width=_WIDTH)
stderr = Console(stderr=True, highlight=False, width=_WIDTH)


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, default=_default, indent=2, allow_nan=False) + "\n")


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)
