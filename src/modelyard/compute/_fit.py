"""Fit one estimator on a compute backend: here, as one Ray task, or data-parallel on Ray.

On a Ray backend, XGBoost and LightGBM estimators train data-parallel with Ray Train: the
rows are cut into one shard per worker and the library's own collective (XGBoost's rabit,
LightGBM's socket network) joins the workers into one model. Any other estimator fits as
one Ray task on the cluster. Whatever the path, the answer is a fitted estimator of the
same class with the same parameters, so it registers and serves like one fitted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.errors import ValidationError

if TYPE_CHECKING:
    from modelyard.compute._base import Compute

__all__ = ["fit"]


def fit(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    compute: Compute | None = None,
    workers: int | None = None,
    sample_weight: Any = None,
) -> Any:
    """A fitted copy of ``estimator`` (which stays unfitted), trained on ``compute``.

    ``compute`` None or local fits in this process. On a :class:`RayCompute`,
    ``xgboost.XGBModel`` and ``lightgbm.LGBMModel`` classifiers and regressors train
    data-parallel on ``workers`` Ray Train workers (default: one per 100,000 rows, at most
    one per CPU of the cluster); any other estimator fits as one Ray task there, and
    ``workers`` plays no part.

    Example:
        >>> model = fit(XGBClassifier(n_estimators=200), X, y, compute=RayCompute(), workers=4)
        >>> ws.registry.register("churn", model, input_example=X[:3])
    """
    from sklearn.base import clone

    _check(X, y, sample_weight, workers)
    _check_xgboost_labels(estimator, y)
    if compute is None or compute.name == "local":
        return _fit_here(clone(estimator), X, y, sample_weight)
    from modelyard.compute._ray import RayCompute

    if not isinstance(compute, RayCompute):  # another backend: one unit of work on it
        job = _FitJob(X, y, sample_weight)
        return compute.map(job, [clone(estimator)])[0]
    from modelyard.compute import _fit_ray

    if _fit_ray.trains_data_parallel(estimator):
        return _fit_ray.train_data_parallel(compute, estimator, X, y, sample_weight, workers).model
    return _fit_ray.fit_as_task(compute, clone(estimator), X, y, sample_weight)


def _fit_here(estimator: Any, X: Any, y: Any, sample_weight: Any) -> Any:
    """``estimator.fit`` on this process (also what a Ray task runs)."""
    if sample_weight is None:
        return estimator.fit(X, y)
    return estimator.fit(X, y, sample_weight=sample_weight)


class _FitJob:
    """One fit as a unit of work for :meth:`Compute.map`: the item is the estimator."""

    def __init__(self, X: Any, y: Any, sample_weight: Any) -> None:
        self.X, self.y, self.sample_weight = X, y, sample_weight

    def __call__(self, estimator: Any) -> Any:
        return _fit_here(estimator, self.X, self.y, self.sample_weight)


def _check(X: Any, y: Any, sample_weight: Any, workers: int | None) -> int:
    """The number of rows, or a ValidationError for input no backend can fit."""
    if workers is not None and workers < 1:
        raise ValidationError(f"workers must be at least 1, got {workers}")
    rows = _length(X, "X")
    if rows == 0:
        raise ValidationError("X is empty: fit needs at least one row")
    labels = _length(y, "y")
    if labels != rows:
        raise ValidationError(f"X has {rows} rows but y has {labels}: give one label per row")
    if sample_weight is not None and _length(sample_weight, "sample_weight") != rows:
        raise ValidationError(
            f"X has {rows} rows but sample_weight has {_length(sample_weight, 'sample_weight')}"
        )
    return rows


def _length(data: Any, name: str) -> int:
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(data)
    except TypeError:
        raise ValidationError(f"{name} must be array-like (rows first)") from None


def _check_xgboost_labels(estimator: Any, y: Any) -> None:
    """XGBoost's classifiers take the labels 0..n-1 only (their ``classes_`` is always
    ``arange(n_classes_)``), on every backend; say so before any training starts."""
    if not _is_xgboost_classifier(estimator):
        return
    import numpy as np

    classes = np.unique(np.asarray(y))
    if classes.dtype.kind not in "iubf" or not np.array_equal(classes, np.arange(len(classes))):
        shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
        raise ValidationError(
            f"{type(estimator).__name__} needs the labels 0..n-1, got {shown}: "
            "encode them first (sklearn.preprocessing.LabelEncoder)"
        )


def _is_xgboost_classifier(estimator: Any) -> bool:
    if not type(estimator).__module__.startswith("xgboost"):
        return False
    from sklearn.base import is_classifier

    return bool(is_classifier(estimator))
