"""DuckDB connections for pipeline runs and dataset reads, and SQL quoting helpers.

A run gets its own in-memory DuckDB with a memory limit and a spill folder, so a run over
more data than memory streams and spills instead of growing without bound.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import fsspec

from modelyard.config import DataSettings

__all__ = ["connect", "ident", "literal", "register_url", "string_list"]


def connect(settings: DataSettings, spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB bounded by ``settings.memory_limit``."""
    config: dict[str, Any] = {"memory_limit": settings.memory_limit}
    if settings.threads:
        config["threads"] = settings.threads
    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(spill_dir)
    return duckdb.connect(":memory:", config=config)


def register_url(con: duckdb.DuckDBPyConnection, url: str, **storage_options: Any) -> None:
    """Let DuckDB read ``url`` through fsspec when it is not a local path."""
    protocol = fsspec.core.split_protocol(url)[0]
    if protocol in (None, "file", "local"):
        return
    if con.filesystem_is_registered(protocol):
        return
    con.register_filesystem(fsspec.filesystem(protocol, **storage_options))


def ident(name: str) -> str:
    """``name`` quoted as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """``value`` as a DuckDB SQL literal (strings, numbers, booleans, None, dates)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "'NaN'::DOUBLE"
        if math.isinf(value):
            return "'Infinity'::DOUBLE" if value > 0 else "'-Infinity'::DOUBLE"
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def string_list(values: Iterable[str]) -> str:
    """A DuckDB list literal of strings: ``['a', 'b']``."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
