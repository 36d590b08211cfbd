"""Hyperparameter search with cross-validation, fanned out over a compute backend.

Each trial (one set of parameters, scored on every fold) runs as one unit of work on the
backend: a process here, or a Ray task on the cluster, retried if its worker dies. Trials
need no store: the driver records each as a child run of one parent run (params, the score
of every fold as steps, mean and spread), refits the best parameters on all the data and
registers that model with the best trial's run as its source. Walk-forward validation
(``cv="walk-forward"``, scikit-learn's ``TimeSeriesSplit``) trains every fold on the past
only, for time-ordered data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.errors import ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.compute._base import Compute
    from modelyard.registry import ModelVersion

__all__ = ["Trial", "TuneResult", "tune"]


@dataclass(frozen=True, slots=True)
class Trial:
    """One parameter set and its scores (higher is better, as scikit-learn scorers are)."""

    params: dict[str, Any]
    scores: tuple[float, ...]
    fit_seconds: float
    run_id: str = ""

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)

    @property
    def std(self) -> float:
        mean = self.mean
        return math.sqrt(sum((s - mean) ** 2 for s in self.scores) / len(self.scores))


@dataclass(frozen=True, slots=True)
class TuneResult:
    """The trials in the order they were asked for, the best one, the parent run and the
    registered model version (None when nothing was registered)."""

    run_id: str
    trials: tuple[Trial, ...]
    best: Trial
    model_version: ModelVersion | None


def tune(
    workspace: Workspace,
    estimator: Any,
    search_space: Mapping[str, Sequence[Any]],
    X: Any,
    y: Any,
    *,
    compute: Compute | None = None,
    cv: int | str | Any = 5,
    scoring: str | None = None,
    n_iter: int | None = None,
    seed: int = 0,
    experiment: str = "tuning",
    register_as: str | None = None,
    alias: str | None = None,
) -> TuneResult:
    """Score every parameter set of ``search_space`` (all combinations, or ``n_iter``
    random draws) by cross-validation on ``compute``; record each trial as a child run and
    register the best, refitted on all of ``X``, as ``register_as``.

    ``cv`` is a number of folds (stratified for classifiers), ``"walk-forward"`` (5
    time-ordered folds; ``"walk-forward:N"`` for N) or any scikit-learn splitter; ``scoring``
    a scikit-learn scorer name (default: the estimator's ``score``).

    Example:
        >>> result = tune(ws, Ridge(), {"alpha": [0.1, 1, 10]}, X, y, cv="walk-forward",
        ...               compute=open_compute("ray-local"), register_as="demand")
        >>> result.best.params, result.model_version.version
        ({'alpha': 1}, 1)
    """
    from sklearn.base import clone

    from modelyard.compute._local import LocalCompute

    candidates = _candidates(search_space, n_iter, seed)
    splits = _splits(cv, estimator, X, y)
    scorer = _scorer(scoring)
    backend = compute or LocalCompute(1)
    backend.start()
    job = _TrialJob(clone(estimator), X, y, splits, scorer)
    started = time.perf_counter()
    scored: list[Trial] = backend.map(job, candidates)
    seconds = time.perf_counter() - started
    params = {
        "estimator": type(estimator).__name__,
        "cv": _cv_name(cv),
        "folds": len(splits),
        "trials": len(candidates),
        "scoring": scoring or "score",
        "backend": backend.name,
    }
    with workspace.start_run(experiment, params=params, tags={"modelyard.tune": "1"}) as parent:
        trials = tuple(
            _record(workspace, experiment, parent.id, n, t) for n, t in enumerate(scored)
        )
        best = max(trials, key=lambda t: (t.mean, -t.std))
        parent.log_metrics({"best_cv_score": best.mean, "search_seconds": seconds})
        parent.set_tags({"best_run_id": best.run_id})
        version = None
        if register_as is not None:
            final = clone(estimator).set_params(**best.params).fit(X, y)
            version = workspace.registry.register(
                register_as, final, run_id=best.run_id, input_example=_head(X)
            )
            if alias is not None:
                workspace.registry.set_alias(register_as, alias, version.version)
    return TuneResult(parent.id, trials, best, version)


class _TrialJob:
    """What runs on a worker: fit and score one parameter set on every fold."""

    def __init__(
        self, estimator: Any, X: Any, y: Any, splits: list[tuple[Any, Any]], scorer: Any
    ) -> None:
        self.estimator, self.X, self.y, self.splits, self.scorer = estimator, X, y, splits, scorer

    def __call__(self, params: dict[str, Any]) -> Trial:
        from sklearn.base import clone
        from sklearn.utils import _safe_indexing

        scores = []
        started = time.perf_counter()
        for train, test in self.splits:
            model = clone(self.estimator).set_params(**params)
            model.fit(_safe_indexing(self.X, train), _safe_indexing(self.y, train))
            X_test, y_test = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
            score = (
                self.scorer(model, X_test, y_test) if self.scorer else model.score(X_test, y_test)
            )
            scores.append(float(score))
        return Trial(dict(params), tuple(scores), time.perf_counter() - started)


def _record(workspace: Workspace, experiment: str, parent: str, n: int, trial: Trial) -> Trial:
    name = f"trial-{n:03d}"
    with workspace.start_run(experiment, name=name, params=trial.params, parent=parent) as run:
        for fold, score in enumerate(trial.scores):
            run.log_metric("fold_score", score, step=fold)
        run.log_metrics(
            {"cv_score": trial.mean, "cv_score_std": trial.std, "fit_seconds": trial.fit_seconds}
        )
    return Trial(trial.params, trial.scores, trial.fit_seconds, run.id)


def _candidates(
    space: Mapping[str, Sequence[Any]], n_iter: int | None, seed: int
) -> list[dict[str, Any]]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if not space or any(isinstance(v, str) or not len(v) for v in space.values()):
        raise ValidationError(
            "search space: give each parameter a non-empty list of values, "
            "e.g. {'alpha': [0.1, 1.0]}"
        )
    grid = [dict(p) for p in ParameterGrid(dict(space))]
    if n_iter is None or n_iter >= len(grid):
        return grid
    if n_iter < 1:
        raise ValidationError("n_iter must be at least 1")
    return [dict(p) for p in ParameterSampler(dict(space), n_iter, random_state=seed)]


def _splits(cv: int | str | Any, estimator: Any, X: Any, y: Any) -> list[tuple[Any, Any]]:
    from sklearn.base import is_classifier
    from sklearn.model_selection import TimeSeriesSplit, check_cv

    if isinstance(cv, str):
        kind, _, count = cv.partition(":")
        if kind != "walk-forward" or (count and not count.isdigit()):
            raise ValidationError(
                f"cv {cv!r}: use a fold count, 'walk-forward' or 'walk-forward:N'"
            )
        cv = TimeSeriesSplit(n_splits=int(count or 5))
    try:
        splitter = check_cv(cv, y, classifier=is_classifier(estimator))
        return list(splitter.split(X, y))
    except ValueError as exc:
        raise ValidationError(f"cannot split the data for cross-validation: {exc}") from None


def _scorer(scoring: str | None) -> Any:
    if scoring is None:
        return None
    from sklearn.metrics import get_scorer

    try:
        return get_scorer(scoring)
    except ValueError:
        raise ValidationError(f"unknown scoring {scoring!r} (a scikit-learn scorer name)") from None


def _cv_name(cv: int | str | Any) -> str:
    return str(cv) if isinstance(cv, int | str) else type(cv).__name__


def _head(X: Any) -> Any:
    head = getattr(X, "head", None)
    return head(3) if callable(head) else X[:3]
