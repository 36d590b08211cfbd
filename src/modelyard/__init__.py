"""modelyard: the backend an ML model needs in production, as one Python package.

Example:
    >>> import modelyard
    >>> with modelyard.start_run(experiment="fraud", params={"model": "hgb"}) as run:
    ...     run.log_metric("auc", 0.93)
    ...     modelyard.register_model("fraud", model, run=run, input_example=X[:5])
"""

from __future__ import annotations

from modelyard import errors
from modelyard._api import (
    get_run,
    init,
    load_model,
    register_model,
    search_runs,
    set_alias,
    start_run,
)
from modelyard._workspace import Workspace, current_workspace, set_workspace
from modelyard.config import Settings

__version__ = "0.1.0"

__all__ = [
    "Settings",
    "Workspace",
    "__version__",
    "current_workspace",
    "errors",
    "get_run",
    "init",
    "load_model",
    "register_model",
    "search_runs",
    "set_alias",
    "set_workspace",
    "start_run",
]
