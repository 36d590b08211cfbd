"""The quickstart: seeded fraud data and the end-to-end demo built on the public API."""

from __future__ import annotations

from modelyard.quickstart._data import (
    FEATURES,
    LABEL,
    add_features,
    generate_transactions,
    time_split,
)
from modelyard.quickstart._features import MODEL_INPUTS, SERVICE
from modelyard.quickstart._run import (
    DEPLOYMENT,
    EXPERIMENT,
    MODEL_NAME,
    QuickstartResult,
    run_quickstart,
)

__all__ = [
    "DEPLOYMENT",
    "EXPERIMENT",
    "FEATURES",
    "LABEL",
    "MODEL_INPUTS",
    "MODEL_NAME",
    "SERVICE",
    "QuickstartResult",
    "add_features",
    "generate_transactions",
    "run_quickstart",
    "time_split",
]
