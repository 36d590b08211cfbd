"""The values that cross between the HTTP protocols and the serving runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["InputBatch", "PredictionResult"]


@dataclass(frozen=True, slots=True)
class InputBatch:
    """The rows of one request, columnar: either named columns or one tensor.

    ``columns`` maps input names to 1-d arrays of length ``n_rows``; ``tensor`` is an array
    whose first dimension is ``n_rows``. Exactly one of them is set.
    """

    n_rows: int
    columns: Mapping[str, np.ndarray] | None = None
    tensor: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class PredictionResult:
    """What the runtime answered for one request."""

    outputs: np.ndarray  # first dimension n_rows
    prediction_ids: list[str]  # one per row
    model: str
    version: int  # the version that computed the outputs
    target: str  # the traffic target that was chosen ("champion", "3", ...)
    cache_hits: int = 0
