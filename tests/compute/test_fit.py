"""``fit`` here and on a local Ray: XGBoost and LightGBM data-parallel on Ray Train workers,
any other estimator as one Ray task; the results register and serve like local fits.

Each Ray Train run starts a controller and its workers (tens of seconds on a loaded
machine), so every model is trained once per module and checked by several tests.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from xgboost import XGBClassifier, XGBRegressor

from modelyard import Workspace
from modelyard.compute import LocalCompute, RayCompute, fit
from modelyard.compute._fit_ray import TrainReport, train_data_parallel
from modelyard.errors import ValidationError

# Ray Data warns about its own deprecated settings when a dataset is made.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")

TRAIN = 1600  # rows to train on; the rest of the 2000 are held out


def classification() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(
        n_samples=2000, n_features=8, n_informative=5, flip_y=0.05, random_state=3
    )
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]), y


def _leftovers() -> set[Path]:
    """Run folders of fit's Ray Train runs: in the temporary folder, or in ~/ray_results."""
    here = Path(tempfile.gettempdir()).glob("modelyard-train-*")
    return {*here, *(Path.home() / "ray_results").glob("modelyard-fit-*")}


@pytest.fixture(scope="module")
def xgb_on_ray(ray_local: Any) -> TrainReport:
    X, y = classification()
    before = _leftovers()
    report = train_data_parallel(
        RayCompute(), XGBClassifier(n_estimators=30, max_depth=3), X[:TRAIN], y[:TRAIN], None, 2
    )
    assert _leftovers() == before  # the run's storage is gone, nothing in ~/ray_results
    return report


@pytest.fixture(scope="module")
def lgbm_on_ray(ray_local: Any) -> TrainReport:
    X, y = classification()
    labels = np.array(["churn", "stay"])[y]
    return train_data_parallel(
        RayCompute(),
        LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1),
        X[:TRAIN],
        labels[:TRAIN],
        None,
        2,
    )


def test_xgboost_classifier_trains_on_two_workers_as_well_as_here(
    xgb_on_ray: TrainReport,
) -> None:
    X, y = classification()
    given = XGBClassifier(n_estimators=30, max_depth=3)
    here = fit(given, X[:TRAIN], y[:TRAIN], compute=LocalCompute())

    assert xgb_on_ray.world_size == 2 and xgb_on_ray.collective_size == 2
    assert xgb_on_ray.shard_rows == (800, 800) and xgb_on_ray.rank0_rows == 800
    model = xgb_on_ray.model
    assert type(model) is XGBClassifier and model.get_params() == here.get_params()
    assert not hasattr(given, "_Booster")  # the estimator given stays unfitted
    holdout, truth = X[TRAIN:], y[TRAIN:]
    auc = roc_auc_score(truth, model.predict_proba(holdout)[:, 1])
    assert auc == pytest.approx(roc_auc_score(truth, here.predict_proba(holdout)[:, 1]), abs=0.02)
    assert accuracy_score(truth, model.predict(holdout)) == pytest.approx(
        accuracy_score(truth, here.predict(holdout)), abs=0.03
    )
    assert list(model.classes_) == [0, 1] and list(model.feature_names_in_) == list(X.columns)


def test_lightgbm_classifier_with_string_labels_on_two_workers(lgbm_on_ray: TrainReport) -> None:
    X, y = classification()
    labels = np.array(["churn", "stay"])[y]
    given = LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1)
    here = fit(given, X[:TRAIN], labels[:TRAIN])

    assert lgbm_on_ray.world_size == 2 and lgbm_on_ray.collective_size == 2
    assert lgbm_on_ray.rank0_rows == 800
    model = lgbm_on_ray.model
    assert type(model) is LGBMClassifier and model.get_params() == given.get_params()
    assert list(model.classes_) == ["churn", "stay"] and model.n_classes_ == 2
    assert list(model.feature_names_in_) == list(X.columns) and model.n_features_in_ == 8
    holdout = X[TRAIN:]
    raw = model.booster_.predict(holdout)  # the probability of "stay"
    np.testing.assert_allclose(model.predict_proba(holdout)[:, 1], raw)
    assert list(model.predict(holdout)) == list(np.where(raw > 0.5, "stay", "churn"))
    accuracy = accuracy_score(labels[TRAIN:], model.predict(holdout))
    assert accuracy == pytest.approx(
        accuracy_score(labels[TRAIN:], here.predict(holdout)), abs=0.03
    )
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(holdout), model.predict(holdout))
    np.testing.assert_allclose(copy.predict_proba(holdout), model.predict_proba(holdout))


def test_models_fitted_on_ray_register_and_load_back_predicting_the_same(
    sqlite_workspace: Workspace,
    xgb_on_ray: TrainReport,
    lgbm_on_ray: TrainReport,
) -> None:
    ws = sqlite_workspace
    X, _ = classification()
    models = {
        "churn-xgb": (xgb_on_ray.model, X, "xgboost"),
        "churn-lgbm": (lgbm_on_ray.model, X, "lightgbm"),
    }
    for name, (model, data, flavor) in models.items():
        version = ws.registry.register(name, model, input_example=data.head(3))
        assert version.flavor == flavor
        loaded = ws.registry.load(f"models:/{name}/{version.version}")
        assert type(loaded.native) is type(model)
        holdout = data[TRAIN:]
        np.testing.assert_array_equal(loaded.predict(holdout), model.predict(holdout))


def test_a_scikit_learn_estimator_fits_as_one_ray_task(ray_local: Any) -> None:
    class WhereFitted(LogisticRegression):  # defined here, so it travels by value
        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> WhereFitted:
            self.fitted_in_ = os.getpid()
            return super().fit(X, y, sample_weight=sample_weight)

    X, y = classification()
    weights = np.linspace(0.5, 1.5, len(y))

    model = fit(WhereFitted(C=0.5), X, y, compute=RayCompute(), sample_weight=weights)

    assert model.fitted_in_ != os.getpid()
    here = LogisticRegression(C=0.5).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(model.coef_, here.coef_)


def test_bad_input_is_a_validation_error(ray_local: Any) -> None:
    X, y = classification()
    ray = RayCompute()
    with pytest.raises(ValidationError, match="X has 2000 rows but y has 1999"):
        fit(XGBClassifier(), X, y[:-1], compute=ray)
    with pytest.raises(ValidationError, match="X is empty"):
        fit(LogisticRegression(), X[:0], y[:0], compute=ray)
    with pytest.raises(ValidationError, match="workers must be at least 1, got 0"):
        fit(XGBClassifier(), X, y, compute=ray, workers=0)
    with pytest.raises(ValidationError, match="sample_weight has 3"):
        fit(LogisticRegression(), X, y, sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match=r"labels 0\.\.n-1, got no, yes"):
        fit(XGBClassifier(), X, np.array(["no", "yes"])[y])
    with pytest.raises(ValidationError, match="3 workers need at least 3 rows, X has 2"):
        fit(XGBClassifier(), X[:2], y[:2], compute=ray, workers=3)
    with pytest.raises(ValidationError, match="numeric features only"):
        fit(XGBRegressor(), X.assign(city="Oslo"), y, compute=ray)
