"""``modelyard keys create|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import console, emit_json, fmt_time, stderr

keys_app = typer.Typer(help="API keys for the prediction server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. checkout-service.")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="predict or admin (repeatable).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key. Its plaintext is printed once (on stdout, alone on its line):
    store it now, it cannot be shown again."""
    key, plaintext = open_workspace(ctx).keys.create(name, scope)
    warning = "[yellow]Store this key now: it is shown only once and cannot be recovered.[/]"
    if as_json:
        emit_json({**key.to_dict(), "key": plaintext})
    else:
        stderr.print(
            f"created API key {key.prefix} ({escape(key.name)}; "
            f"scopes: {', '.join(sorted(key.scopes))})"
        )
        typer.echo(plaintext)
    stderr.print(warning)


@keys_app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every API key (never its secret), revoked ones included."""
    keys = open_workspace(ctx).keys.list()
    if as_json:
        emit_json([k.to_dict() for k in keys])
        return
    table = Table(
        "id",
        "name",
        "scopes",
        "created",
        "last used",
        "revoked",
        title=f"{len(keys)} key(s)",
        title_justify="left",
    )
    for k in keys:
        table.add_row(
            k.prefix,
            escape(k.name),
            ", ".join(sorted(k.scopes)),
            fmt_time(k.created_at),
            fmt_time(k.last_used_at),
            fmt_time(k.revoked_at) if k.revoked_at is not None else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="Key id or myd_<id> prefix.")],
) -> None:
    """Revoke an API key; servers refuse it within seconds."""
    key = open_workspace(ctx).keys.revoke(key_id)
    console.print(f"revoked API key {key.prefix} ({escape(key.name)})")
