"""The ``modelyard`` command in tests.

:func:`modelyard` runs it in this process through Click's test runner: the same app, the
same parsing, output and exit status, without the two seconds of imports a new interpreter
costs. :func:`modelyard_process` runs ``python -m modelyard.cli`` for the tests that need a
real process (signals, the interpreter's own exit).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from modelyard.cli import app
from modelyard.cli._output import console, stderr

# a fixed width: tables must not depend on the terminal the tests run in (or its absence)
console.width = stderr.width = 200


@dataclass(frozen=True, slots=True)
class Result:
    """What a command printed and how it exited (the shape of ``CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def modelyard(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run ``modelyard ARGS`` in this process; ``env`` adds environment variables for the
    command's duration. An exception that is not a clean exit fails the test."""
    chdir = contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext()
    with chdir:
        result = CliRunner().invoke(app, list(args), env=dict(env or {}), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def modelyard_process(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m modelyard.cli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
