"""The dashboard's pages, in the order of its navigation bar.

A new page is a module here that defines a :class:`~modelyard.dashboard._page.Page`, its
script ``static/pages/<name>.js``, and one entry in :data:`PAGES`.
"""

from __future__ import annotations

from modelyard.dashboard.pages import _data, _deployments, _jobs, _models, _monitoring, _runs

__all__ = ["PAGES"]

PAGES = (_runs.PAGE, _models.PAGE, _deployments.PAGE, _monitoring.PAGE, _data.PAGE, _jobs.PAGE)
