"""The ``modelyard`` command line."""

from __future__ import annotations

import sys

from modelyard.cli import (  # noqa: F401  (register commands)
    _automation,
    _batch,
    _data,
    _deployments,
    _export,
    _features,
    _jobs,
    _keys,
    _models,
    _monitor,
    _quickstart,
    _runs,
    _serve,
    _ui,
    _workspace_cmds,
)
from modelyard.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``modelyard`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
