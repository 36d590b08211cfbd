"""Distributed tuning end to end on PostgreSQL: trials on a local Ray as child runs, the
best one registered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from modelyard import Workspace
from modelyard.compute import LocalCompute, RayCompute, tune
from modelyard.config import load_settings
from modelyard.errors import ValidationError

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


def test_walk_forward_search_on_ray_records_trials_and_registers_the_best(
    pg_ws: Workspace, ray_local: Any
) -> None:
    X, y = demand()
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
    assert parent.tags["best_run_id"] == best.id and parent.params["backend"] == "ray"

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
    assert [t.scores for t in here.trials] == [t.scores for t in result.trials]


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
