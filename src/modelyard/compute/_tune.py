"""Hyperparameter search with cross-validation, on this machine or on Ray Tune.

Locally, each trial (one set of parameters, scored on every fold) runs as one unit of work
on the backend's processes. On a Ray backend the search runs on Ray Tune (see
``_tune_ray``): one Tune trial per parameter set, reporting after every fold, so that
``early_stopping`` can let Tune's ASHA scheduler stop poor trials before their last fold.
Both try the same parameter sets on the same folds and give the same scores. Trials need
no store: the driver records each as a child run of one parent run (params, the score of
every fold as steps, mean and spread), refits the best parameters on all the data and
registers that model with the best trial's run as its source. Walk-forward validation
(``cv="walk-forward"``, scikit-learn's ``TimeSeriesSplit``) trains every fold on the past
only, for time-ordered data.
"""

from __future__ import annotations

import dataclasses
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

STOPPED_EARLY_TAG = "modelyard.stopped_early"


@dataclass(frozen=True, slots=True)
class Trial:
    """One parameter set and its scores (higher is better, as scikit-learn scorers are).

    ``stopped_early``: early stopping ended the trial before its last fold, so ``scores``
    holds the folds it completed."""

    params: dict[str, Any]
    scores: tuple[float, ...]
    fit_seconds: float
    run_id: str = ""
    stopped_early: bool = False

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
    early_stopping: bool = False,
    experiment: str = "tuning",
    parent: str | None = None,
    register_as: str | None = None,
    alias: str | None = None,
) -> TuneResult:
    """Score every parameter set of ``search_space`` (all combinations, or ``n_iter``
    random draws) by cross-validation on ``compute``; record each trial as a child run and
    register the best, refitted on all of ``X``, as ``register_as``.

    ``cv`` is a number of folds (stratified for classifiers), ``"walk-forward"`` (5
    time-ordered folds; ``"walk-forward:N"`` for N) or any scikit-learn splitter; ``scoring``
    a scikit-learn scorer name (default: the estimator's ``score``). ``parent`` makes the
    search's run a child of that run (a recipe's training run, say). The best parameters
    are refitted with :func:`modelyard.compute.fit` on ``compute``.

    On a :class:`RayCompute` the search runs on Ray Tune: one trial per parameter set, at
    most one per CPU of the cluster at a time, reporting after each fold; the parent run's
    ``backend`` param reads ``ray-tune``. With ``early_stopping`` (Ray only), Tune's ASHA
    scheduler looks at each trial's running mean score after 1, 2, 4, ... folds and stops
    it there if it is below the median of the trials that got there before it. A stopped
    trial is recorded with the folds it completed and the tag ``modelyard.stopped_early=1``,
    and is chosen as best only if every trial stopped.

    A parameter set whose fit or scoring raises fails the whole search with a
    ValidationError naming it and the error (on Ray the other trials stop at their next
    fold), and nothing is recorded: a best over fewer sets than asked for would mislead.

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
    job = _TrialJob(clone(estimator), X, y, splits, _scorer(scoring))
    backend = compute or LocalCompute(1)
    started = time.perf_counter()
    scored, backend_name = _search(backend, job, candidates, early_stopping)
    seconds = time.perf_counter() - started
    params = {
        "estimator": type(estimator).__name__,
        "cv": _cv_name(cv),
        "folds": len(splits),
        "trials": len(candidates),
        "scoring": scoring or "score",
        "backend": backend_name,
        "early_stopping": early_stopping,
    }
    tags = {"modelyard.tune": "1"}
    with workspace.start_run(experiment, params=params, tags=tags, parent=parent) as search:
        trials = tuple(
            _record(workspace, experiment, search.id, n, t) for n, t in enumerate(scored)
        )
        best = _best(trials)
        search.log_metrics(
            {
                "best_cv_score": best.mean,
                "search_seconds": seconds,
                "trials_stopped_early": sum(t.stopped_early for t in trials),
            }
        )
        search.set_tags({"best_run_id": best.run_id})
        version = None
        if register_as is not None:
            from modelyard.compute._fit import fit

            final = fit(clone(estimator).set_params(**best.params), X, y, compute=backend)
            version = workspace.registry.register(
                register_as, final, run_id=best.run_id, input_example=_head(X)
            )
            if alias is not None:
                workspace.registry.set_alias(register_as, alias, version.version)
    return TuneResult(search.id, trials, best, version)


def _search(
    backend: Compute, job: _TrialJob, candidates: list[dict[str, Any]], early_stopping: bool
) -> tuple[list[Trial], str]:
    """Score every candidate: on Ray Tune on a Ray backend, else one ``map`` item each;
    the trials in order and the name of what ran them."""
    from modelyard.compute._ray import RayCompute

    if early_stopping and not isinstance(backend, RayCompute):
        raise ValidationError(
            "early_stopping needs a Ray backend (compute='ray-local' or 'ray://HOST:PORT'): "
            "it runs on Ray Tune's ASHA scheduler"
        )
    backend.start()
    if isinstance(backend, RayCompute):
        from modelyard.compute._tune_ray import search_on_ray

        return search_on_ray(backend, job, candidates, early_stopping=early_stopping), "ray-tune"
    return backend.map(job, candidates), backend.name


class _TrialJob:
    """What a worker runs: fit and score parameter sets fold by fold. Called with a
    parameter set it scores every fold (the local backend's unit of work); Ray Tune's
    trainable calls :meth:`score` fold after fold, reporting in between."""

    def __init__(
        self, estimator: Any, X: Any, y: Any, splits: list[tuple[Any, Any]], scorer: Any
    ) -> None:
        self.estimator, self.X, self.y, self.splits, self.scorer = estimator, X, y, splits, scorer

    def score(self, params: dict[str, Any], fold: int) -> float:
        """Fit a clone with ``params`` on the fold's training rows, score its test rows."""
        from sklearn.base import clone
        from sklearn.utils import _safe_indexing

        train, test = self.splits[fold]
        model = clone(self.estimator).set_params(**params)
        model.fit(_safe_indexing(self.X, train), _safe_indexing(self.y, train))
        X_test, y_test = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
        score = self.scorer(model, X_test, y_test) if self.scorer else model.score(X_test, y_test)
        return float(score)

    def __call__(self, params: dict[str, Any]) -> Trial:
        started = time.perf_counter()
        try:
            scores = tuple(self.score(params, fold) for fold in range(len(self.splits)))
        except Exception as exc:
            raise trial_failed(params, f"{type(exc).__name__}: {exc}") from exc
        return Trial(dict(params), scores, time.perf_counter() - started)


def trial_failed(params: Mapping[str, Any], error: str) -> ValidationError:
    """The error a search raises for a parameter set whose fit or scoring raised."""
    return ValidationError(
        f"trial {dict(params)!r} failed, so the search stopped: {error}",
        details={"params": {k: repr(v) for k, v in params.items()}, "error": error},
    )


def _best(trials: Sequence[Trial]) -> Trial:
    """The highest mean score (then the smaller spread) among the trials that ran every
    fold; a trial stopped early competes only when every trial stopped."""
    finished = [t for t in trials if not t.stopped_early] or list(trials)
    return max(finished, key=lambda t: (t.mean, -t.std))


def _record(workspace: Workspace, experiment: str, parent: str, n: int, trial: Trial) -> Trial:
    name = f"trial-{n:03d}"
    tags = {STOPPED_EARLY_TAG: "1"} if trial.stopped_early else None
    with workspace.start_run(
        experiment, name=name, params=trial.params, tags=tags, parent=parent
    ) as run:
        for fold, score in enumerate(trial.scores):
            run.log_metric("fold_score", score, step=fold)
        run.log_metrics(
            {"cv_score": trial.mean, "cv_score_std": trial.std, "fit_seconds": trial.fit_seconds}
        )
    return dataclasses.replace(trial, run_id=run.id)


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
