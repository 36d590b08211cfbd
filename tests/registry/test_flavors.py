"""One contract battery over every model flavor (STYLE rule 9)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from numpy.testing import assert_allclose, assert_array_equal
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.errors import FlavorError
from modelyard.registry import flavors
from modelyard.registry._loaded import LoadedModel
from modelyard.registry._signature import infer_signature
from modelyard.registry.flavors import FLAVOR_NAMES, flavor_for, get_flavor


@cache
def _classification() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)


@cache
def _regression() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(n_samples=300, n_features=5, noise=0.1, random_state=0)


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = _classification()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["city"] = np.random.default_rng(0).choice(["oslo", "rome", "lima"], size=len(frame))
    return frame, y


def _sklearn_frame() -> tuple[object, Any, np.ndarray]:
    frame, y = _frame()
    X = frame.drop(columns="city")
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    return model, X, model.predict(X)


def _sklearn_pipeline() -> tuple[object, Any, np.ndarray]:
    frame, y = _frame()
    numeric = [name for name in frame.columns if name != "city"]
    encode = ColumnTransformer(
        [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["city"])]
    )
    model = Pipeline([("encode", encode), ("clf", LogisticRegression())]).fit(frame, y)
    return model, frame, model.predict_proba(frame)[:, 1]


def _sklearn_ndarray() -> tuple[object, Any, np.ndarray]:
    X, y = _regression()
    model = Ridge(alpha=0.5).fit(X, y)
    return model, X, model.predict(X)


def _xgb_classifier() -> tuple[object, Any, np.ndarray]:
    X, y = _classification()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0)
    model.fit(X, y)
    return model, X, model.predict(X)


def _xgb_booster() -> tuple[object, Any, np.ndarray]:
    X, y = _regression()
    params = {"objective": "reg:squarederror", "max_depth": 3, "nthread": 1, "seed": 0}
    booster = xgboost.train(params, xgboost.DMatrix(X, label=y), num_boost_round=15)
    return booster, X, booster.predict(xgboost.DMatrix(X))


def _lgbm_classifier() -> tuple[object, Any, np.ndarray]:
    X, y = _classification()
    model = lightgbm.LGBMClassifier(n_estimators=15, n_jobs=1, random_state=0, verbose=-1)
    model.fit(X, y)
    return model, X, model.predict(X)


def _lgbm_booster() -> tuple[object, Any, np.ndarray]:
    X, y = _regression()
    params = {"objective": "regression", "num_threads": 1, "seed": 0, "verbose": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(X, label=y), num_boost_round=15)
    return booster, X, booster.predict(X)


def _onnx_logistic() -> tuple[object, Any, np.ndarray]:
    X, y = _classification()
    estimator = LogisticRegression().fit(X, y)
    proto = to_onnx(estimator, X[:1].astype(np.float32), options={"zipmap": False})
    return proto, X, estimator.predict(X)


def double(data: Any) -> np.ndarray:
    """A pyfunc model that is a plain function."""
    return np.asarray(data, dtype=np.float64).sum(axis=1) * 2.0


class Thresholder:
    """A pyfunc model that is an object with ``predict``."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, data: Any) -> np.ndarray:
        return (np.asarray(data)[:, 0] > self.cut).astype(np.int64)


def _pyfunc_function() -> tuple[object, Any, np.ndarray]:
    X, _ = _regression()
    return double, X, double(X)


def _pyfunc_object() -> tuple[object, Any, np.ndarray]:
    X, _ = _regression()
    model = Thresholder(0.1)
    return model, X, model.predict(X)


@dataclass(frozen=True)
class Case:
    """A model to put through the battery, with the predictions it must reproduce."""

    flavor: str
    build: Callable[[], tuple[object, Any, np.ndarray]]
    predict: Callable[[Any, Any], Any] | None = None  # how to get comparable predictions
    exact: bool = True


def _proba(model: Any, X: Any) -> Any:
    return model.predict_proba(X)[:, 1]


CASES = [
    pytest.param(Case("sklearn", _sklearn_frame), id="sklearn-forest-dataframe"),
    pytest.param(Case("sklearn", _sklearn_pipeline, predict=_proba), id="sklearn-pipeline"),
    pytest.param(Case("sklearn", _sklearn_ndarray), id="sklearn-ridge-ndarray"),
    pytest.param(Case("xgboost", _xgb_classifier), id="xgboost-classifier"),
    pytest.param(Case("xgboost", _xgb_booster), id="xgboost-booster"),
    pytest.param(Case("lightgbm", _lgbm_classifier), id="lightgbm-classifier"),
    pytest.param(Case("lightgbm", _lgbm_booster), id="lightgbm-booster"),
    pytest.param(Case("onnx", _onnx_logistic, exact=False), id="onnx-logistic"),
    pytest.param(Case("pyfunc", _pyfunc_function), id="pyfunc-function"),
    pytest.param(Case("pyfunc", _pyfunc_object), id="pyfunc-object"),
]


def _predict(case: Case, model: object, X: Any) -> np.ndarray:
    if case.predict is not None:
        return np.asarray(case.predict(model, X))
    return np.asarray(get_flavor(case.flavor).predict(model, X))


def _assert_same(case: Case, actual: np.ndarray, expected: np.ndarray) -> None:
    if case.exact:
        assert_array_equal(actual, expected)
    else:
        assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def _save(model: object, folder: Path) -> dict[str, Any]:
    folder.mkdir()
    info = flavor_for(model).save(model, folder)
    return json.loads(json.dumps(info))  # what the registry stores is plain JSON


@pytest.mark.parametrize("case", CASES)
def test_flavor_for_picks_the_flavor(case: Case) -> None:
    model, _, _ = case.build()
    assert flavor_for(model).name == case.flavor


@pytest.mark.parametrize("case", CASES)
def test_loaded_model_predicts_like_the_original(case: Case, tmp_path: Path) -> None:
    model, X, expected = case.build()
    info = _save(model, tmp_path / "model")
    loaded = get_flavor(case.flavor).load(tmp_path / "model", info)
    _assert_same(case, _predict(case, loaded, X), expected)


@pytest.mark.parametrize("case", CASES)
def test_info_names_library_class_and_every_file(case: Case, tmp_path: Path) -> None:
    model, _, _ = case.build()
    info = _save(model, tmp_path / "model")
    assert {"library", "version", "model_class", "files"} <= info.keys()
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(info["files"])


@pytest.mark.parametrize("case", CASES)
def test_saving_twice_gives_identical_bytes(case: Case, tmp_path: Path) -> None:
    # Holds for every library pinned today: none embeds a timestamp in its files.
    model, _, _ = case.build()
    first, second = _save(model, tmp_path / "a"), _save(model, tmp_path / "b")
    assert first == second
    for name in first["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_loaded_model_coerces_with_the_signature(case: Case, tmp_path: Path) -> None:
    model, X, expected = case.build()
    flavor = flavor_for(model)
    info = _save(model, tmp_path / "model")
    loaded = LoadedModel(
        flavor=flavor,
        native=flavor.load(tmp_path / "model", info),
        signature=infer_signature(X),
        uri="models:/m/1",
        name="m",
        version=1,
        digest="sha256:0",
    )
    if case.predict is None:
        _assert_same(case, loaded.predict(X), expected)
    else:
        _assert_same(case, loaded.predict(X), flavor.predict(model, X))


def test_flavor_for_rejects_an_unknown_object() -> None:
    with pytest.raises(FlavorError, match=r"builtins\.object.*sklearn") as caught:
        flavor_for(object())
    assert caught.value.details["flavors"] == list(FLAVOR_NAMES)


def test_get_flavor_rejects_an_unknown_name() -> None:
    with pytest.raises(FlavorError, match=r"'tensorflow'.*known flavors: xgboost"):
        get_flavor("tensorflow")


def test_flavor_names_are_in_detection_order() -> None:
    assert FLAVOR_NAMES == ("xgboost", "lightgbm", "onnx", "sklearn", "pyfunc")


def test_exports_are_sorted_and_complete() -> None:
    assert flavors.__all__ == sorted(flavors.__all__)
    assert all(hasattr(flavors, name) for name in flavors.__all__)


def test_detection_imports_no_ml_library() -> None:
    code = (
        "import sys\n"
        "from modelyard.registry.flavors import flavor_for\n"
        "assert flavor_for(len).name == 'pyfunc'\n"
        "loaded = {'xgboost', 'lightgbm', 'onnx', 'onnxruntime', 'sklearn'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
