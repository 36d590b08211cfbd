"""``modelyard ui``: the web dashboard on its own (``modelyard serve --ui`` mounts it too)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import stderr


@app.command("ui")
def ui(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: serving.host).")
    ] = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port.", min=0, max=65535)] = 8050,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth", help="Require API keys (default: serving.auth)."),
    ] = None,
) -> None:
    """Serve the dashboard (runs, models, deployments, data) at http://HOST:PORT/ui/.

    Live server metrics (request rate, latency, errors) need the dashboard inside the
    prediction server: modelyard serve --ui.
    """
    from modelyard.dashboard import dashboard_url, serve_dashboard

    workspace = open_workspace(ctx)  # checks the database and migrates it, once, up front
    settings = workspace.settings.serving
    if (settings.auth if auth is None else auth) and not workspace.keys.any_active():
        stderr.print(
            "[yellow]Auth is on but there is no API key: the dashboard will ask for one. "
            "Create one with `modelyard keys create NAME --scope admin`.[/]"
        )
    stderr.print(f"dashboard: {dashboard_url(host or settings.host, port)}")
    serve_dashboard(workspace, host=host, port=port, auth=auth)
