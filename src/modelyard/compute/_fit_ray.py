"""Data-parallel XGBoost and LightGBM on Ray Train, and any other fit as one Ray task.

The driver cuts the rows into one contiguous shard per worker and hands each in as its own
Ray Dataset (from pandas, so already in the object store); worker ``r`` reads
``shard-r`` only. Ray Train's own split (``streaming_split(equal=True)``) would drop up
to ``workers - 1`` rows to even the shards out, and a Ray fit should see every row a local
fit sees. Each worker builds the library's matrix from its shard; the library's collective
(XGBoost's rabit tracker, LightGBM's socket network, both set up by Ray Train) joins them,
so every worker ends with the same model. Rank 0 returns it as bytes in the run's return
value, which reaches the driver from any node, so no checkpoint is written; Ray Train's
run state goes to a temporary folder that is removed afterwards.

Resources: each worker asks for at most an even share of all but one of the cluster's
CPUs (half a CPU each for 2 workers on 2 CPUs). With a whole CPU each, 2 workers would
hold all of a 2-CPU cluster: they would wait (until Ray Train's start timeout) behind any
task or actor holding a CPU, and anything started beside them, a Ray Data task included,
would wait behind them. The shards are in the object store before the run starts, so a
worker reads its own without any Ray Data task. A worker runs one thread unless the
estimator's ``n_jobs`` says otherwise.

Before the run, one boosting round on a small sample runs here, so that bad parameters
fail at once with the library's own error; Ray Train would count such an error as a lost
worker and run the whole group again.
"""

from __future__ import annotations

import importlib
import itertools
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.compute._batch_ray import _actor_cpus
from modelyard.compute._fit import _fit_here
from modelyard.compute._ray import TASK_RETRIES
from modelyard.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelyard.compute._ray import RayCompute

__all__ = ["TrainReport", "fit_as_task", "train_data_parallel", "trains_data_parallel"]

ROWS_PER_WORKER = 100_000  # the default rule: one worker per this many rows, one per CPU at most
LABEL = "__modelyard_label__"
WEIGHT = "__modelyard_weight__"


@dataclass(frozen=True, slots=True)
class TrainReport:
    """A data-parallel fit: the fitted estimator and how the workers trained it."""

    model: Any
    world_size: int  # Ray Train workers, as rank 0's train context saw them
    collective_size: int  # members of the library's collective (rabit world, LightGBM machines)
    shard_rows: tuple[int, ...]  # the rows handed to each worker, by rank
    rank0_rows: int  # the rows rank 0 built its matrix from


def trains_data_parallel(estimator: Any) -> bool:
    """Whether ``estimator`` is an XGBoost or LightGBM sklearn wrapper (checked without
    importing either library when the estimator comes from neither)."""
    return _library(estimator) is not None


def fit_as_task(compute: RayCompute, estimator: Any, X: Any, y: Any, sample_weight: Any) -> Any:
    """``estimator.fit`` as one Ray task (retried if its worker dies); the data travel as
    task arguments, through the object store."""
    ray = compute.ray
    task = ray.remote(max_retries=TASK_RETRIES)(_fit_here)
    return ray.get(task.remote(estimator, X, y, sample_weight))


def train_data_parallel(
    compute: RayCompute,
    estimator: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    workers: int | None,
) -> TrainReport:
    """Train an XGBoost or LightGBM estimator on ``workers`` Ray Train workers."""
    import numpy as np

    library = _library(estimator)
    if library is None:
        raise ValidationError(f"{type(estimator).__name__} is no XGBoost or LightGBM estimator")
    _check_estimator(estimator, library)
    frame, features, named = _frame(X)
    rows = len(frame)
    cluster_cpus = compute.workers
    count = workers or max(1, min(cluster_cpus, rows // ROWS_PER_WORKER))
    if count > rows:
        raise ValidationError(f"{count} workers need at least {count} rows, X has {rows}")
    cpus = _actor_cpus(cluster_cpus, count)
    threads = estimator.n_jobs if estimator.n_jobs is not None else 1
    labels = np.asarray(y)
    if library == "xgboost":
        encoder, target = None, labels
        params: dict[str, Any] = _xgboost_params(estimator, labels, threads)
    else:
        encoder, target, params = _lightgbm_params(estimator, labels, threads)
        sample_weight = _with_class_weight(estimator, labels, sample_weight)
    frame[LABEL] = target
    if sample_weight is not None:
        frame[WEIGHT] = np.asarray(sample_weight, dtype=np.float64)
    bounds = [int(b) for b in np.linspace(0, rows, count + 1)]
    shards = [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    config = {
        "params": params,
        "features": features,
        "named": named,
        "weighted": sample_weight is not None,
        "threads": threads,
        **_library_options(library, estimator),
    }
    _rehearse(library, config, frame)
    result = _run(compute, library, config, shards, cpus)
    if library == "xgboost":
        model = _xgboost_estimator(estimator, result["model"])
    else:
        model = _lightgbm_estimator(estimator, result["model"], params, encoder, named)
    return TrainReport(
        model,
        int(result["world_size"]),
        int(result["collective_size"]),
        tuple(b - a for a, b in itertools.pairwise(bounds)),
        int(result["rows"]),
    )


def _run(
    compute: RayCompute,
    library: str,
    config: dict[str, Any],
    shards: list[pd.DataFrame],
    cpus: float,
) -> dict[str, Any]:
    """One Ray Train run; rank 0's return value."""
    compute.start()
    # Ray Train V2 (the default), whose classes are not the ones mypy finds in the stubs.
    data, train = importlib.import_module("ray.data"), importlib.import_module("ray.train")
    if library == "xgboost":
        trainer_class = importlib.import_module("ray.train.xgboost").XGBoostTrainer
        loop = _xgboost_worker
    else:
        trainer_class = importlib.import_module("ray.train.lightgbm").LightGBMTrainer
        loop = _lightgbm_worker
    storage = tempfile.mkdtemp(prefix="modelyard-train-")
    try:
        with _quiet_data():
            trainer = trainer_class(
                loop,
                train_loop_config=config,
                scaling_config=train.ScalingConfig(
                    num_workers=len(shards), resources_per_worker={"CPU": cpus}
                ),
                run_config=train.RunConfig(
                    name=f"modelyard-fit-{uuid.uuid4().hex[:12]}",
                    storage_path=storage,
                    failure_config=train.FailureConfig(max_failures=TASK_RETRIES),
                    logging_config=train.LoggingConfig(log_level="WARNING"),
                ),
                datasets={f"shard-{r}": data.from_pandas(s) for r, s in enumerate(shards)},
                # Each worker reads only its own shard, whole (see the module docstring).
                dataset_config=train.DataConfig(datasets_to_split=[]),
            )
            result = trainer.fit()
    finally:
        _remove_run_state(Path(storage))
    answer: dict[str, Any] = result.return_value
    return answer


def _remove_run_state(storage: Path) -> None:
    """Remove Ray Train's run-state folder. Its controller actor may still be persisting
    the final state for a moment after ``fit`` returns, which would make the folder again:
    remove it until it stays gone (for up to 10 s)."""
    deadline = time.monotonic() + 10.0
    gone_since: float | None = None
    while time.monotonic() < deadline:
        if storage.exists():
            shutil.rmtree(storage, ignore_errors=True)
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since >= 1.0:
            return
        time.sleep(0.1)


@contextmanager
def _quiet_data() -> Iterator[None]:
    """No Ray Data progress bars or execution banners on the caller's terminal."""
    import ray.data

    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start
    context.enable_progress_bars, context.print_on_execution_start = False, False
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved


# -- what runs on every worker (and, on a small sample, first on the driver) -----------


def _xgboost_worker(config: dict[str, Any]) -> dict[str, Any] | None:
    import xgboost

    rank, world, shard = _shard()
    booster, rows = _xgboost_train(config, shard, config["rounds"])
    if rank != 0:
        return None
    return {
        "model": bytes(booster.save_raw("json")),
        "world_size": world,
        "collective_size": xgboost.collective.get_world_size(),
        "rows": rows,
    }


def _lightgbm_worker(config: dict[str, Any]) -> dict[str, Any] | None:
    from ray.train.lightgbm import get_network_params

    rank, world, shard = _shard()
    network = get_network_params() if world > 1 else {}
    booster, rows = _lightgbm_train(config, shard, config["rounds"], network)
    if rank != 0:
        return None
    return {
        "model": booster.model_to_string(),
        "world_size": world,
        "collective_size": network.get("num_machines", 1),
        "rows": rows,
    }


def _shard() -> tuple[int, int, pd.DataFrame]:
    """This worker's rank, the world size, and its shard."""
    import ray.train

    context = ray.train.get_context()
    rank = context.get_world_rank()
    frame = ray.train.get_dataset_shard(f"shard-{rank}").materialize().to_pandas()
    return rank, context.get_world_size(), frame


def _columns(frame: pd.DataFrame, config: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Features (a DataFrame when X had names, else an array), labels and weights."""
    X = frame[config["features"]]
    weights = frame[WEIGHT].to_numpy() if config["weighted"] else None
    return (X if config["named"] else X.to_numpy()), frame[LABEL].to_numpy(), weights


def _xgboost_train(config: dict[str, Any], frame: pd.DataFrame, rounds: int) -> tuple[Any, int]:
    import xgboost

    X, y, weights = _columns(frame, config)
    options = {"label": y, "weight": weights, "missing": config["missing"]}
    matrix: Any
    if config["quantile"]:  # as XGBModel._create_dmatrix chooses for a local fit
        matrix = xgboost.QuantileDMatrix(
            X, **options, nthread=config["threads"], max_bin=config["max_bin"]
        )
    else:
        matrix = xgboost.DMatrix(X, **options, nthread=config["threads"])
    booster = xgboost.train(config["params"], matrix, num_boost_round=rounds)
    return booster, int(matrix.num_row())


def _lightgbm_train(
    config: dict[str, Any], frame: pd.DataFrame, rounds: int, network: dict[str, Any]
) -> tuple[Any, int]:
    import lightgbm

    X, y, weights = _columns(frame, config)
    params = {**config["params"], **network}
    if network:  # each worker holds its own rows, not a copy of all
        params["pre_partition"] = True
        if params.get("tree_learner", "serial") == "serial":
            params["tree_learner"] = "data_parallel"
    dataset = lightgbm.Dataset(X, label=y, weight=weights, params=params)
    booster = lightgbm.train(params, dataset, num_boost_round=rounds)
    return booster, int(dataset.num_data())


def _rehearse(library: str, config: dict[str, Any], frame: pd.DataFrame) -> None:
    """One boosting round on at most about 128 rows, here: bad parameters raise the
    library's own error now, as in a local fit (see the module docstring)."""
    sample = frame.iloc[:: max(1, len(frame) // 64)]
    if library == "xgboost":
        _xgboost_train(config, sample, 1)
        return
    # LightGBM's notes on so few rows ("no further splits") are no business of the caller.
    params = {k: v for k, v in config["params"].items() if k not in ("verbose", "verbosity")}
    _lightgbm_train({**config, "params": {**params, "verbosity": -1}}, sample, 1, {})


# -- the driver's side of each library ------------------------------------------------


def _library(estimator: Any) -> str | None:
    module = type(estimator).__module__.split(".")[0]
    if module == "xgboost":
        import xgboost

        return "xgboost" if isinstance(estimator, xgboost.XGBModel) else None
    if module == "lightgbm":
        import lightgbm

        return "lightgbm" if isinstance(estimator, lightgbm.LGBMModel) else None
    return None


def _check_estimator(estimator: Any, library: str | None) -> None:
    from sklearn.base import is_classifier, is_regressor

    name = type(estimator).__name__
    if not (is_classifier(estimator) or is_regressor(estimator)):
        raise ValidationError(f"{name}: only classifiers and regressors train data-parallel")
    if callable(estimator.objective) or callable(getattr(estimator, "eval_metric", None)):
        raise ValidationError(f"{name}: a custom objective or metric function trains only here")
    if library == "xgboost" and estimator.early_stopping_rounds is not None:
        raise ValidationError(f"{name}: early stopping needs an eval set, which fit does not take")


def _frame(X: Any) -> tuple[pd.DataFrame, list[str], bool]:
    """X as a fresh DataFrame, its feature columns, and whether those names are X's own
    (a local fit on an array records no names, so neither does the Ray fit)."""
    import numpy as np
    import pandas as pd

    named = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
    if named:
        frame = X.reset_index(drop=True)
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValidationError(f"X must be 2-dimensional (rows x features), got {array.shape}")
        frame = pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])
    odd = [str(c) for c, t in frame.dtypes.items() if t.kind not in "biuf"]
    if odd:
        raise ValidationError(
            f"data-parallel training takes numeric features only; encode {odd[:5]} first"
        )
    return frame, [str(c) for c in frame.columns], named


def _xgboost_params(estimator: Any, y: np.ndarray, threads: int) -> dict[str, Any]:
    """The booster parameters ``XGBClassifier.fit`` / ``XGBModel.fit`` would train with."""
    import numpy as np
    from sklearn.base import is_classifier

    params: dict[str, Any] = estimator.get_xgb_params()
    params["n_jobs"] = threads
    classes = len(np.unique(y)) if is_classifier(estimator) else 0
    if classes > 2:
        if params.get("objective") != "multi:softmax":
            params["objective"] = "multi:softprob"
        params["num_class"] = classes
    return params


def _library_options(library: str, estimator: Any) -> dict[str, Any]:
    """The boosting rounds and, for XGBoost, how the wrapper would build its matrix."""
    if library == "lightgbm":
        return {"rounds": estimator.n_estimators}
    tree_method, device = estimator.tree_method, estimator.device or ""
    return {
        "rounds": estimator.get_num_boosting_rounds(),
        "missing": estimator.missing,
        "max_bin": estimator.max_bin,
        "quantile": tree_method in ("hist", None, "auto")
        and not device.startswith("sycl")
        and estimator.booster != "gblinear",
    }


# load_model writes these from the model into the estimator's params; a local fit leaves
# them as given, so they are put back (the objective stays: a local fit sets it too).
_XGBOOST_PARAMS_LOAD_MODEL_SETS = ("booster", "base_score", "feature_types", "enable_categorical")


def _xgboost_estimator(template: Any, raw: bytes) -> Any:
    from sklearn.base import clone

    model = clone(template)
    model.load_model(bytearray(raw))
    for name in _XGBOOST_PARAMS_LOAD_MODEL_SETS:
        setattr(model, name, getattr(template, name))
    return model


def _lightgbm_params(
    estimator: Any, y: np.ndarray, threads: int
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The label encoder (classifiers), the labels to train on and the parameters that
    ``LGBMModel.fit`` would train with."""
    from sklearn.base import clone, is_classifier
    from sklearn.preprocessing import LabelEncoder

    probe = clone(estimator)
    encoder, target = None, y
    if is_classifier(estimator):
        encoder = LabelEncoder().fit(y)
        target = encoder.transform(y)
        probe._n_classes = len(encoder.classes_)  # decides the objective and num_class
    params: dict[str, Any] = probe._process_params(stage="fit")
    params["num_threads"] = threads
    return encoder, target, params


def _with_class_weight(estimator: Any, y: np.ndarray, sample_weight: Any) -> Any:
    """``sample_weight`` times the estimator's ``class_weight``, as ``LGBMModel.fit`` does."""
    class_weight = getattr(estimator, "class_weight", None)
    if class_weight is None:
        return sample_weight
    import numpy as np
    from sklearn.utils.class_weight import compute_sample_weight

    weights = compute_sample_weight(class_weight, y)
    return weights if sample_weight is None else np.asarray(sample_weight) * weights


def _lightgbm_estimator(
    template: Any, model_text: str, params: dict[str, Any], encoder: Any, named: bool
) -> Any:
    """A fitted sklearn wrapper around a Booster trained elsewhere.

    LightGBM has no public constructor from a Booster, so this sets the attributes that
    ``LGBMModel.fit`` and ``LGBMClassifier.fit`` set (lightgbm/sklearn.py, LightGBM 4.x);
    ``predict``, ``predict_proba``, ``classes_``, ``feature_names_in_`` and pickling read
    only these. The tests check the result against the Booster and a pickle round trip.
    """
    import lightgbm
    from sklearn.base import clone

    model = clone(template)
    booster = lightgbm.Booster(model_str=model_text)
    model._Booster = booster
    model._objective = params["objective"]
    model._n_features = model._n_features_in = booster.num_feature()
    model._fitted_with_feature_names = named  # feature_names_in_ exists only then
    model._evals_result, model._best_iteration = {}, booster.best_iteration
    model._best_score = booster.best_score
    if encoder is not None:  # classifiers: the original labels, as LGBMClassifier.fit keeps
        model._le = encoder
        model._classes = encoder.classes_
        model._n_classes = len(encoder.classes_)
        model._class_map = dict(
            zip(encoder.classes_, encoder.transform(encoder.classes_), strict=True)
        )
        weight = template.class_weight
        model._class_weight = (
            {model._class_map[k]: v for k, v in weight.items()}
            if isinstance(weight, dict)
            else weight
        )
    model.fitted_ = True
    return model
