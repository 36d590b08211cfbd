"""The web dashboard: runs, models, deployments, monitoring, data and jobs at a glance.

``modelyard ui`` serves it on its own; ``modelyard serve --ui`` (or ``[serving] ui =
true``) mounts it at ``/ui`` of the prediction server, where the deployments page also
shows the server's live metrics. It is a JSON API (``/ui/api/...``) and static pages that
draw with Apache ECharts, shipped in the package: no Node.js is needed to run it.

Example:
    >>> from modelyard.dashboard import create_dashboard
    >>> app = create_dashboard(Workspace.open("my-workspace"))  # any ASGI server runs it
"""

from __future__ import annotations

from modelyard.dashboard._app import PREFIX, DashboardMount, create_dashboard
from modelyard.dashboard._report_html import write_report
from modelyard.dashboard._serve import dashboard_url, serve_dashboard

__all__ = [
    "PREFIX",
    "DashboardMount",
    "create_dashboard",
    "dashboard_url",
    "serve_dashboard",
    "write_report",
]
