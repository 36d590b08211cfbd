"""The BentoML service of ``benchmarks/serving.py`` (run by ``bentoml serve`` in
``.bench/bentoml``): the joblib model behind one batchable API.

``POST /predict`` with ``{"inputs": [[...20 floats...]]}`` answers ``[class]``. Adaptive
batching groups up to 64 rows; ``BENCH_MAX_LATENCY_MS``, when set, replaces BentoML's
default ``max_latency_ms`` (60,000 in BentoML 1.4).
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import numpy as np

MODEL = os.environ["BENCH_MODEL"]
BATCHING: dict[str, Any] = {"batchable": True, "max_batch_size": 64}
if os.environ.get("BENCH_MAX_LATENCY_MS"):
    BATCHING["max_latency_ms"] = int(os.environ["BENCH_MAX_LATENCY_MS"])


@bentoml.service(workers=1)
class Bench:
    """One worker process holding the model."""

    def __init__(self) -> None:
        self.model = joblib.load(MODEL)

    @bentoml.api(**BATCHING)
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.predict(inputs)
