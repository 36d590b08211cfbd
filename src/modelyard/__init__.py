"""modelyard: the backend an ML model needs in production, as one Python package.

Example:
    >>> import modelyard
    >>> with modelyard.start_run(experiment="fraud", params={"model": "hgb"}) as run:
    ...     run.log_metric("auc", 0.93)
    ...     modelyard.register_model("fraud", model, run=run, input_example=X[:5])

Names are imported on first use (PEP 562), so ``import modelyard`` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "Settings": "modelyard.config",
    "Workspace": "modelyard._workspace",
    "current_workspace": "modelyard._workspace",
    "errors": "modelyard.errors",
    "get_run": "modelyard._api",
    "init": "modelyard._api",
    "load_model": "modelyard._api",
    "register_model": "modelyard._api",
    "search_runs": "modelyard._api",
    "set_alias": "modelyard._api",
    "set_workspace": "modelyard._workspace",
    "start_run": "modelyard._api",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    if name == "errors":
        value: Any = importlib.import_module(module)
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
