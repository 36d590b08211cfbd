"""``modelyard serve``: run the prediction server for the workspace's deployments."""

from __future__ import annotations

import enum
import os
from typing import Annotated

import typer

from modelyard.cli._app import app, open_workspace
from modelyard.cli._output import stderr


class ServeBackend(enum.StrEnum):
    """What runs the server: uvicorn worker processes here, or Ray Serve replicas."""

    UVICORN = "uvicorn"
    RAY = "ray"


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: serving.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (default: serving.port).", min=0)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Server processes (default: serving.workers).", min=1),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth", help="Require API keys (default: serving.auth)."),
    ] = None,
    ui: Annotated[
        bool | None,
        typer.Option("--ui/--no-ui", help="Mount the web dashboard at /ui (default: serving.ui)."),
    ] = None,
    backend: Annotated[
        ServeBackend,
        typer.Option(
            "--backend",
            help="uvicorn: processes here; ray: Ray Serve replicas on the `compute` setting's "
            "Ray (a local one when it is local), autoscaled on requests in flight.",
        ),
    ] = ServeBackend.UVICORN,
    max_replicas: Annotated[
        int, typer.Option("--max-replicas", min=1, help="With --backend ray: most replicas.")
    ] = 4,
) -> None:
    """Serve every deployment over the Open Inference Protocol (V2), MLflow's
    /invocations and the native /v1 API, with /health, /metrics and /docs (and the
    dashboard at /ui with --ui)."""
    workspace = open_workspace(ctx)  # checks the database and migrates it, once, up front
    settings = workspace.settings.serving
    if (settings.auth if auth is None else auth) and not workspace.keys.any_active():
        stderr.print(
            "[yellow]Auth is on but there is no API key: every request but health will get "
            "401. Create one with `modelyard keys create NAME --scope predict`.[/]"
        )
    # One OpenMP thread per process: set before numpy and the model libraries load (tree
    # models predict much faster under load this way). Workers inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if ui is not None:  # the workers read their settings from the environment
        os.environ["MODELYARD_SERVING__UI"] = "true" if ui else "false"
    if settings.ui if ui is None else ui:
        from modelyard.dashboard import dashboard_url

        where = dashboard_url(host or settings.host, settings.port if port is None else port)
        stderr.print(f"dashboard: {where}")
    if backend == ServeBackend.RAY:
        from modelyard.compute._serve_ray import RayServeOptions, serve_forever

        if auth is not None:  # the replicas read their settings from the environment
            os.environ["MODELYARD_SERVING__AUTH"] = "true" if auth else "false"
        options = RayServeOptions(
            host=host or settings.host,
            port=settings.port if port is None else port,
            min_replicas=workers or 1,
            max_replicas=max_replicas,
        )
        workspace.close()
        serve_forever(workspace.settings.compute, workspace.path, options.checked())
        return
    from modelyard.serving import serve as run_server

    workspace.close()
    run_server(workspace.path, host=host, port=port, workers=workers, auth=auth)
