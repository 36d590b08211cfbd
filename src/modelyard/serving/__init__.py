"""The prediction server: deployments served over the Open Inference Protocol (KServe V2,
Triton), MLflow's scoring protocol and a native JSON one, with health, Prometheus metrics,
API keys and rate limits.

Example:
    >>> from modelyard.serving import serve
    >>> serve("my-workspace", port=8000, workers=2)  # or: modelyard serve --workers 2
"""

from __future__ import annotations

from modelyard.serving._app import create_app, serve
from modelyard.serving._types import InputBatch, PredictionResult

__all__ = ["InputBatch", "PredictionResult", "create_app", "serve"]
