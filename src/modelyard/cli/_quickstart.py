"""``modelyard quickstart``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._app import app
from modelyard.cli._output import console


@app.command("quickstart")
def quickstart(
    directory: Annotated[
        Path, typer.Option("--dir", "-d", help="Workspace folder to create.")
    ] = Path("demo-workspace"),
    rows: Annotated[int, typer.Option(min=1_000, help="Transactions to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 0,
) -> None:
    """Make a workspace, generate fraud data, train two tracked models, register a champion."""
    from modelyard.quickstart import run_quickstart

    run_quickstart(directory, rows=rows, seed=seed, console=console)
