"""A hyperparameter search on Ray Tune: one Tune trial per parameter set, a report per fold.

The job (estimator, data, folds, scorer) goes to the object store once
(``tune.with_parameters``); at most ``compute.workers`` trials run at a time, one CPU
each, and an actor is reused from trial to trial. Each trial reports after every fold: the
fold, its score and the running mean (the metric), and the scores so far, so the last
report holds the trial. With early stopping, Tune's ASHA scheduler compares the running
mean after 1, 2, 4, ... folds with the trials that got there before, and stops a trial
below their median (successive halving).

Failures: a trial whose worker process died is run again (``TASK_RETRIES``, Tune's
``max_failures``). A trial whose estimator raised is no failure in Tune's eyes (Tune would
retry it in vain): it reports the error and returns, :class:`_StopOnError` then stops every
other trial at its next report, and the driver raises the error as a ValidationError.
(Tune's ``fail_fast`` would give up the retries of dead workers.)

Tune writes its experiment into a temporary folder, removed afterwards, and prints nothing:
``verbose=0`` with a reporter that never reports, on Tune's legacy output engine, since
the default engine prints a table at the start of every search whatever the verbosity.
It also stages files in the Ray session's folder (``/tmp/ray/session_*/artifacts``), which
Ray owns.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from modelyard.compute._ray import TASK_RETRIES, RayCompute
from modelyard.compute._tune import Trial, _TrialJob, trial_failed
from modelyard.errors import StoreUnavailableError

__all__ = ["search_on_ray"]

FOLDS_DONE = "folds_done"  # ASHA's time attribute
METRIC = "mean_score"  # the running mean, higher is better
ERROR = "error"  # in a trial's last report when its estimator raised


def search_on_ray(
    compute: RayCompute,
    job: _TrialJob,
    candidates: Sequence[dict[str, Any]],
    *,
    early_stopping: bool = False,
) -> list[Trial]:
    """Score every candidate on every fold as Ray Tune trials; the trials in the order of
    ``candidates``."""
    folds = len(job.splits)
    trainable = tune.with_resources(
        tune.with_parameters(_run_trial, job=job, candidates=list(candidates)), {"cpu": 1}
    )
    scheduler = (
        ASHAScheduler(time_attr=FOLDS_DONE, max_t=folds, grace_period=1, reduction_factor=2)
        if early_stopping
        else None
    )
    with tempfile.TemporaryDirectory(prefix="modelyard-tune-") as storage, _quiet_tune():
        tuner = tune.Tuner(
            trainable,
            param_space={"candidate": tune.grid_search(list(range(len(candidates))))},
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode="max",
                scheduler=scheduler,
                max_concurrent_trials=compute.workers,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="modelyard-tune",
                storage_path=storage,
                verbose=0,
                progress_reporter=_Silent(),
                stop=_StopOnError(),
                failure_config=tune.FailureConfig(max_failures=TASK_RETRIES),
            ),
        )
        grid = tuner.fit()
        results = [grid[i] for i in range(len(grid))]
    results.sort(key=lambda result: (result.config or {})["candidate"])
    return _trials(compute, candidates, results, folds)


def _run_trial(config: dict[str, Any], job: _TrialJob, candidates: list[dict[str, Any]]) -> None:
    """Tune's trainable: fit and score the candidate fold after fold, reporting each."""
    params = candidates[config["candidate"]]
    scores: list[float] = []
    started = time.perf_counter()
    for fold in range(len(job.splits)):
        try:
            score = job.score(params, fold)
        except Exception as exc:
            failed = {FOLDS_DONE: fold, METRIC: math.nan, ERROR: f"{type(exc).__name__}: {exc}"}
            tune.report(failed)
            return
        scores.append(score)
        tune.report(
            {
                FOLDS_DONE: fold + 1,
                "fold": fold,
                "fold_score": score,
                METRIC: sum(scores) / len(scores),
                "scores": list(scores),
                "fit_seconds": time.perf_counter() - started,
            }
        )


def _trials(
    compute: RayCompute, candidates: Sequence[dict[str, Any]], results: list[Any], folds: int
) -> list[Trial]:
    """The trials from Tune's results (one per candidate, in order), or the error of the
    first candidate that raised, or of one whose worker died on every try."""
    reports: list[dict[str, Any]] = [r.metrics or {} for r in results]
    for params, report in zip(candidates, reports, strict=True):
        if ERROR in report:
            raise trial_failed(params, report[ERROR])
    for params, result in zip(candidates, results, strict=True):
        if result.error is not None:
            where = compute.address or "local (ray-local)"
            reason = f"trial {params!r} failed {TASK_RETRIES + 1} times: {result.error}"
            raise StoreUnavailableError("Ray cluster", where, reason)
    return [
        Trial(
            dict(params),
            tuple(float(s) for s in report["scores"]),
            float(report["fit_seconds"]),
            stopped_early=len(report["scores"]) < folds,
        )
        for params, report in zip(candidates, reports, strict=True)
    ]


class _StopOnError(tune.Stopper):
    """Once a trial has reported an error, stops every trial at its next report, so the
    search ends after at most one more fold per trial. (``stop_all`` would end them at
    once, but Tune then skips its loggers' end of trial and leaves their files open.)"""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:  # noqa: ARG002
        self.failed = self.failed or ERROR in result
        return self.failed

    def stop_all(self) -> bool:
        return False


class _Silent(tune.ProgressReporter):
    """A progress reporter that never reports."""

    def should_report(self, trials: list[Any], done: bool = False) -> bool:  # noqa: ARG002
        return False

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        """Never called."""


LEGACY_OUTPUT = "RAY_AIR_NEW_OUTPUT"  # "0": Tune's legacy output engine


@contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune's legacy output engine for one search (Tune reads the variable in this process
    as the search starts): it honours ``verbose=0`` and the progress reporter, where the
    default engine prints the experiment's table whatever the verbosity."""
    before = os.environ.get(LEGACY_OUTPUT)
    os.environ[LEGACY_OUTPUT] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[LEGACY_OUTPUT]
        else:
            os.environ[LEGACY_OUTPUT] = before
