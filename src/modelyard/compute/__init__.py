"""Where heavy work runs: this machine's processes or a Ray cluster, behind one protocol.

The ``compute`` setting picks the backend (``local``, ``ray-local``, ``ray://host:10001``);
:func:`predict_batch` scores Parquet files through a registered model on it, and
:func:`tune` fans a hyperparameter search with cross-validation out over it. :func:`fit`
trains one estimator there (XGBoost and LightGBM data-parallel on Ray Train workers). Ray is
imported only when a Ray backend starts.

Example:
    >>> compute = open_compute(ws.settings.compute)
    >>> compute.start()
    >>> predict_batch(ws, "models:/fraud@champion", "data/*.parquet", "out/", compute=compute)
"""

from __future__ import annotations

from modelyard.compute._base import Compute, open_compute
from modelyard.compute._batch import BatchResult, ProgressFn, predict_batch
from modelyard.compute._fit import fit
from modelyard.compute._local import LocalCompute
from modelyard.compute._ray import RayCompute
from modelyard.compute._tune import Trial, TuneResult, tune

__all__ = [
    "BatchResult",
    "Compute",
    "LocalCompute",
    "ProgressFn",
    "RayCompute",
    "Trial",
    "TuneResult",
    "fit",
    "open_compute",
    "predict_batch",
    "tune",
]
