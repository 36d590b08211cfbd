"""The ``modelyard`` command: one Typer app, errors printed as one line with exit status 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from modelyard._workspace import Workspace
from modelyard.cli._output import stderr
from modelyard.config import load_settings
from modelyard.errors import ModelyardError

__all__ = ["app", "open_workspace"]


class _Group(TyperGroup):
    """Turns every :class:`ModelyardError` into ``Error: <message>`` and exit status 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        try:
            return super().invoke(ctx)
        except ModelyardError as exc:
            stderr.print(f"[red]Error:[/] {' '.join(exc.message.split())}", soft_wrap=True)
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_Group,
    name="modelyard",
    help="modelyard: pipelines, features, tracking, registry, serving and monitoring in one.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="MODELYARD_WORKSPACE",
            help="Workspace folder (default: found upward from here, else here).",
        ),
    ] = None,
) -> None:
    ctx.obj = {"workspace": workspace}


def open_workspace(ctx: typer.Context, *, start: bool = True) -> Workspace:
    """The workspace named by ``--workspace``, opened once per command. With ``start`` its
    database is checked and migrated; without, only its settings are read."""
    root = ctx.find_root()
    state = root.obj if isinstance(root.obj, dict) else {}
    if "opened" not in state:
        state["opened"] = Workspace(load_settings(state.get("workspace")))
        root.call_on_close(state["opened"].close)
        if start:
            state["opened"].start()
    workspace: Workspace = state["opened"]
    return workspace
