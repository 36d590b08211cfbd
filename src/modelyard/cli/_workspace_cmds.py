"""``modelyard init`` and ``modelyard db current|upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard._workspace import init_workspace
from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console
from modelyard.store import HEAD, current_revision, upgrade

db_app = typer.Typer(help="The metadata database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
) -> None:
    """Create a workspace: modelyard.toml plus a state folder with the metadata database."""
    workspace, created = init_workspace(directory)
    with workspace:
        verb = "created" if created else "already a workspace:"
        console.print(f"{verb} {workspace.path}")
        console.print(f"  metadata   {workspace.db.display_url}")
        console.print(f"  artifacts  {workspace.artifacts.url}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """The schema revision of the metadata database."""
    workspace = open_workspace(ctx, start=False)
    revision = current_revision(workspace.db)
    state = "up to date" if revision == HEAD else f"needs upgrade to {HEAD}"
    console.print(f"{workspace.db.display_url}: revision {revision or 'none'} ({state})")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the metadata database schema up to date."""
    workspace = open_workspace(ctx, start=False)
    upgrade(workspace.db)
    console.print(f"{workspace.db.display_url}: at revision {current_revision(workspace.db)}")
