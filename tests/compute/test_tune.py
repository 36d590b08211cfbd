"""Distributed tuning end to end on PostgreSQL: trials on Ray Tune (a local Ray) as child
runs, the best one registered; early stopping; failing trials."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from modelyard import Workspace
from modelyard.compute import LocalCompute, RayCompute, Trial, tune
from modelyard.config import load_settings
from modelyard.errors import NotFoundError, ValidationError

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ws(postgres_url: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(load_settings(tmp_path, metadata_url=postgres_url))
    ws.start()
    yield ws
    ws.close()


def demand(rows: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """A time-ordered series: demand from a trend, a weekly cycle and noise."""
    rng = np.random.default_rng(7)
    t = np.arange(rows, dtype=np.float64)
    X = pd.DataFrame({"t": t, "weekday": t % 7, "lag": rng.normal(0, 1, rows)})
    y = pd.Series(0.5 * t + 3 * (t % 7) + rng.normal(0, 2, rows), name="demand")
    return X, y


def leftovers() -> set[Path]:
    """What Ray Tune could leave behind: its default results folder and our storage."""
    tune_dirs = set(Path(tempfile.gettempdir()).glob("modelyard-tune-*"))
    return tune_dirs | set((Path.home() / "ray_results").glob("*")) | {Path.home() / "ray_results"}


def existing(paths: set[Path]) -> set[Path]:
    return {p for p in paths if p.exists()}


def test_walk_forward_search_on_ray_tune_records_trials_and_registers_the_best(
    pg_ws: Workspace, ray_local: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = demand()
    before = existing(leftovers())
    experiment = f"demand-{uuid.uuid4().hex[:8]}"
    space = {"alpha": [0.01, 1.0, 100.0, 10_000.0], "fit_intercept": [True, False]}

    result = tune(
        pg_ws,
        Ridge(),
        space,
        X,
        y,
        compute=RayCompute(),
        cv="walk-forward:4",
        scoring="neg_mean_absolute_error",
        experiment=experiment,
        register_as="demand",
        alias="champion",
    )

    assert len(result.trials) == 8 and all(len(t.scores) == 4 for t in result.trials)
    runs = pg_ws.tracking.search_runs(experiments=[experiment], max_results=50).runs
    children = [r for r in runs if r.parent_run_id == result.run_id]
    assert len(children) == 8 and len(runs) == 9
    best = pg_ws.tracking.get_run(result.best.run_id)
    assert best.parent_run_id == result.run_id
    assert best.metrics["cv_score"].value == pytest.approx(result.best.mean)
    assert max(c.metrics["cv_score"].value for c in children) == pytest.approx(result.best.mean)
    assert len(pg_ws.tracking.metric_history(best.id, "fold_score")) == 4
    assert best.params == {k: str(v) for k, v in result.best.params.items()}
    version = result.model_version
    assert version is not None and version.run_id == best.id
    loaded = pg_ws.registry.load("models:/demand@champion")
    assert loaded.version == version.version
    refit = Ridge(**result.best.params).fit(X, y)
    np.testing.assert_allclose(loaded.predict(X.head(5)), refit.predict(X.head(5)))
    parent = pg_ws.tracking.get_run(result.run_id)
    assert parent.tags["best_run_id"] == best.id and parent.params["backend"] == "ray-tune"
    assert all(t.fit_seconds > 0 and not t.stopped_early for t in result.trials)
    assert existing(leftovers()) == before  # Tune's storage removed, nothing in ~/ray_results
    assert capsys.readouterr().out == ""  # no progress tables

    here = tune(
        pg_ws,
        Ridge(),
        space,
        X,
        y,
        compute=LocalCompute(1),
        cv="walk-forward:4",
        scoring="neg_mean_absolute_error",
        experiment=experiment,
    )
    # Same candidates, same folds, a deterministic estimator: the same scores, trial by trial.
    assert [t.params for t in here.trials] == [t.params for t in result.trials]
    assert [t.scores for t in here.trials] == [t.scores for t in result.trials]
    assert pg_ws.tracking.get_run(here.run_id).params["backend"] == "local"


def test_early_stopping_on_ray_tune_stops_poor_trials_before_their_last_fold(
    pg_ws: Workspace, ray_local: Any
) -> None:
    X, y = demand(120)
    experiment = f"early-{uuid.uuid4().hex[:8]}"
    # Seed 66 draws these alphas from best to worst (at every fold of this data): each
    # trial after the first two starts once one of those has ended, so at its first fold it
    # meets only better running means, and ASHA stops it there, however the two concurrent
    # trials interleave. The first trial is best at every fold, so nothing stops it.
    space = {"alpha": [0.1, 1e2, 1e3, 1e4, 1e5, 1e6]}

    result = tune(
        pg_ws,
        Ridge(),
        space,
        X,
        y,
        compute=RayCompute(),
        cv="walk-forward:4",
        scoring="neg_mean_absolute_error",
        n_iter=5,
        seed=66,
        early_stopping=True,
        experiment=experiment,
    )

    assert [t.params["alpha"] for t in result.trials] == [0.1, 1e2, 1e3, 1e4, 1e6]
    first, second, *poor = result.trials
    assert result.best == first and len(first.scores) == 4 and not first.stopped_early
    assert all(t.stopped_early and len(t.scores) == 1 for t in poor)
    assert second.stopped_early == (len(second.scores) < 4)
    for trial in result.trials:
        run = pg_ws.tracking.get_run(trial.run_id)
        history = pg_ws.tracking.metric_history(run.id, "fold_score")
        assert [m.value for m in history] == pytest.approx(list(trial.scores))
        tag = run.tags.get("modelyard.stopped_early")
        assert tag == ("1" if trial.stopped_early else None)
    parent = pg_ws.tracking.get_run(result.run_id)
    assert parent.params["early_stopping"] == "True"
    assert parent.metrics["trials_stopped_early"].value >= 3


def test_a_trial_that_raises_on_ray_tune_fails_the_search_with_a_validation_error(
    pg_ws: Workspace, ray_local: Any
) -> None:
    X, y = demand(60)
    experiment = f"failing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValidationError) as raised:
        tune(
            pg_ws,
            Ridge(),
            {"alpha": [1.0, -1.0, 2.0]},
            X,
            y,
            compute=RayCompute(),
            cv=3,
            experiment=experiment,
        )
    assert type(raised.value) is ValidationError  # not a Ray error that also subclasses it
    message = str(raised.value)
    assert message.startswith("trial {'alpha': -1.0} failed, so the search stopped")
    assert "InvalidParameterError: The 'alpha' parameter of Ridge" in message
    assert "Traceback" not in message
    with pytest.raises(NotFoundError):  # nothing was recorded
        pg_ws.tracking.search_runs(experiments=[experiment])


def test_the_best_trial_ran_every_fold_unless_every_trial_stopped_early() -> None:
    from modelyard.compute._tune import _best

    finished = Trial({"alpha": 1}, (0.5, 0.7), 0.1)
    stopped = Trial({"alpha": 2}, (0.9,), 0.1, stopped_early=True)
    also_stopped = Trial({"alpha": 3}, (0.8,), 0.1, stopped_early=True)
    assert _best([stopped, finished]) == finished
    assert _best([also_stopped, stopped]) == stopped


def test_walk_forward_folds_train_on_the_past_only() -> None:
    from modelyard.compute._tune import _splits

    X, y = demand(100)
    for train, test in _splits("walk-forward:3", Ridge(), X, y):
        assert train.max() < test.min()


def test_bad_searches_are_validation_errors(pg_ws: Workspace) -> None:
    X, y = demand(50)
    with pytest.raises(ValidationError, match="non-empty list"):
        tune(pg_ws, Ridge(), {"alpha": []}, X, y)
    with pytest.raises(ValidationError, match="walk-forward"):
        tune(pg_ws, Ridge(), {"alpha": [1.0]}, X, y, cv="sideways")
    with pytest.raises(ValidationError, match="unknown scoring"):
        tune(pg_ws, Ridge(), {"alpha": [1.0]}, X, y, scoring="nope")
    with pytest.raises(ValidationError, match="needs a Ray backend"):
        tune(pg_ws, Ridge(), {"alpha": [1.0]}, X, y, early_stopping=True)
    with pytest.raises(ValidationError, match=r"\{'alpha': -1\.0\}.*alpha"):
        tune(pg_ws, Ridge(), {"alpha": [1.0, -1.0]}, X, y, compute=LocalCompute(1))
