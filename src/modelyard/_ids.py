"""Identifiers and clock: one place for how modelyard names and times things."""

from __future__ import annotations

import getpass
import os
import secrets
import time

__all__ = ["current_user", "new_id", "now_ms", "run_name"]

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
