"""Identifiers and clock: one place for how modelyard names and times things."""

from __future__ import annotations

import getpass
import os
import secrets
import time

__all__ = ["current_user", "id_time_ms", "new_id", "now_ms", "run_name", "time_id"]

_ADJECTIVES = (
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "eager",
    "fair",
    "gentle",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "proud",
    "quiet",
    "rapid",
    "sharp",
    "sunny",
    "tidy",
    "vivid",
)
_NOUNS = (
    "badger",
    "bison",
    "crane",
    "falcon",
    "ferret",
    "gecko",
    "heron",
    "ibex",
    "lynx",
    "marten",
    "otter",
    "owl",
    "panda",
    "puffin",
    "raven",
    "seal",
    "stoat",
    "tapir",
    "vole",
    "wren",
)


_UUID4_CLEAR = (0xC000 << 48) | (0xF000 << 64)  # the variant and version bits ...
_UUID4_SET = (0x8000 << 48) | (4 << 76)  # ... as uuid.uuid4 sets them


def new_id() -> str:
    """A random 32-hex-digit id (runs, experiments, predictions): ``uuid.uuid4().hex``,
    made without a ``UUID`` object, in half the time (the server makes one per request)."""
    bits = int.from_bytes(os.urandom(16), "big") & ~_UUID4_CLEAR | _UUID4_SET
    return f"{bits:032x}"


_V7_SET = (0x8000 << 48) | (7 << 76)  # UUIDv7's variant and version bits


def time_id(ms: int | None = None) -> str:
    """A time-ordered 32-hex-digit id (UUIDv7's layout): the first 12 digits are the
    milliseconds since the epoch (``ms``, default now), the rest random. Prediction ids
    are made of these, so that an id tells the day its prediction was logged and ids sort
    by time (Parquet row-group statistics then prune a lookup by id)."""
    random = int.from_bytes(os.urandom(10), "big")
    stamp = time.time_ns() // 1_000_000 if ms is None else ms
    bits = stamp << 80 | random & ~_UUID4_CLEAR | _V7_SET
    return f"{bits:032x}"


def id_time_ms(value: str) -> int | None:
    """The milliseconds of a :func:`time_id` (a prediction id's first 32 digits), else
    None (an id made otherwise)."""
    head = value[:32]
    if len(head) != 32 or head[12] != "7":
        return None
    try:
        return int(head[:12], 16)
    except ValueError:
        return None


def now_ms() -> int:
    """Milliseconds since the epoch, UTC."""
    return time.time_ns() // 1_000_000


def run_name() -> str:
    """A readable default run name such as ``brisk-otter-417``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000):03d}"


def current_user() -> str | None:
    """The operating-system user, recorded with runs and alias moves."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
