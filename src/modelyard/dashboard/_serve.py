"""``modelyard ui``: the dashboard on its own, under uvicorn."""

from __future__ import annotations

from pathlib import Path

from modelyard._workspace import Workspace
from modelyard.dashboard._app import PREFIX, create_dashboard

__all__ = ["dashboard_url", "serve_dashboard"]


def serve_dashboard(
    workspace: str | Path | Workspace | None = None,
    *,
    host: str | None = None,
    port: int = 8050,
    auth: bool | None = None,
) -> None:
    """Serve the dashboard of ``workspace`` at ``http://host:port/ui/`` until interrupted.

    ``host`` and ``auth`` default to the workspace's ``[serving]`` settings. Deployments
    show what servers report; their live metrics need the dashboard inside the server
    (``modelyard serve --ui``).
    """
    import uvicorn

    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    try:
        settings = ws.settings.serving
        app = create_dashboard(ws, auth=settings.auth if auth is None else auth)
        uvicorn.run(app, host=host or settings.host, port=port, log_level="info")
    finally:
        if not isinstance(workspace, Workspace):
            ws.close()


def dashboard_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{PREFIX}/"
