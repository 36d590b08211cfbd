"""Training recipes: how a model is trained, as a Python function in the workspace, so that
retraining needs no human.

A recipe names its model, the dataset of labelled rows it learns from (the latest version
when it runs), optionally a feature service whose values are joined point-in-time onto
those rows, and the label. Its function gets the split data and returns a fitted
estimator. :func:`train` runs it as a tracked run with its lineage (the dataset version,
the feature views and the datasets they read), keeps the holdout with the run (the gate
scores on it), registers the estimator as the next version of the model, stores its drift
reference, and records the decision. Given a key (a job passes its id), a retry finds the
version registered by an earlier attempt instead of training again.

Example, in ``recipes/fraud.py`` of the workspace:
    >>> from modelyard.automation import TrainingData, recipe
    >>> @recipe("fraud", model="fraud", dataset="transactions", features="fraud_features",
    ...         label="is_fraud", entities=entity_rows)
    ... def fraud(data: TrainingData) -> object:
    ...     return HistGradientBoostingClassifier().fit(data.X, data.y)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from modelyard._modules import load_folder
from modelyard.automation._decisions import DecisionKind, DecisionLog
from modelyard.automation._evidence import HOLDOUT_ARTIFACT, LABEL_TAG, outputs
from modelyard.automation._gate import Check
from modelyard.automation._stats import METRICS
from modelyard.errors import ModelyardError, NotFoundError, ValidationError
from modelyard.tracking import InputKind

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.data import DatasetVersion
    from modelyard.registry import ModelVersion
    from modelyard.tracking import ActiveRun

__all__ = [
    "RECIPES_DIR",
    "Recipe",
    "TrainResult",
    "TrainingData",
    "load_recipes",
    "recipe",
    "train",
]

RECIPES_DIR = "recipes"
KEY_TAG = "modelyard.train_key"
RECIPE_TAG = "modelyard.recipe"
_SEED = 0


@dataclass(frozen=True)
class TrainingData:
    """What a recipe's function is given: the rows split into train and holdout (by time
    when the rows have a timestamp), the model's input columns and the label, and the
    run it trains in (log params and metrics there)."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    inputs: list[str]
    label: str
    run: ActiveRun
    dataset: DatasetVersion
    workspace: Workspace

    @property
    def X(self) -> pd.DataFrame:
        return self.train[self.inputs]

    @property
    def y(self) -> pd.Series:
        return self.train[self.label]

    def fit(self, estimator: Any) -> Any:
        """``estimator`` fitted on the training rows where the workspace's ``compute``
        says: in this process, or on Ray (XGBoost and LightGBM data-parallel on Ray
        Train, any other estimator as one Ray task); see :func:`modelyard.compute.fit`."""
        from modelyard.compute import fit

        return fit(estimator, self.X, self.y, compute=self.workspace.compute)

    def tune(
        self,
        estimator: Any,
        space: Mapping[str, Sequence[Any]],
        *,
        cv: int | str | Any = "walk-forward",
        scoring: str | None = None,
        n_iter: int | None = None,
        seed: int = 0,
        early_stopping: bool = False,
    ) -> Any:
        """Search ``space`` by cross-validation on the training rows, on the workspace's
        compute backend (Ray Tune on Ray), and return ``estimator`` with the best
        parameters, fitted by :meth:`fit`.

        The folds are walk-forward by default (the rows are in time order when they have
        a timestamp). The search is a child run of this training run, each trial a child
        of the search (see :func:`modelyard.compute.tune`); the best parameters and score
        are logged on this run too (``best.<name>``, ``cv_score``).

        Example, in a recipe:
            >>> return data.tune(HistGradientBoostingClassifier(),
            ...                  {"learning_rate": [0.05, 0.1], "max_depth": [3, None]},
            ...                  scoring="roc_auc")
        """
        from sklearn.base import clone

        from modelyard.compute import tune

        result = tune(
            self.workspace,
            estimator,
            space,
            self.X,
            self.y,
            compute=self.workspace.compute,
            cv=cv,
            scoring=scoring,
            n_iter=n_iter,
            seed=seed,
            early_stopping=early_stopping,
            experiment=self.run.experiment,
            parent=self.run.id,
        )
        self.run.log_params({f"best.{k}": v for k, v in result.best.params.items()})
        self.run.log_metrics({"cv_score": result.best.mean, "cv_score_std": result.best.std})
        return self.fit(clone(estimator).set_params(**result.best.params))


@dataclass(frozen=True)
class Recipe:
    """A training recipe; made with :func:`recipe`."""

    name: str
    fn: Callable[[TrainingData], object]
    model: str
    dataset: str
    label: str
    features: str | Sequence[str] | None = None
    entities: Callable[[pa.Table], pa.Table] | None = None
    inputs: tuple[str, ...] | None = None
    timestamp: str | None = None
    holdout: float = 0.2
    experiment: str | None = None
    checks: tuple[Check, ...] = field(default=())
    description: str = ""


def recipe(
    name: str,
    *,
    model: str,
    dataset: str,
    label: str,
    features: str | Sequence[str] | None = None,
    entities: Callable[[pa.Table], pa.Table] | None = None,
    inputs: Sequence[str] | None = None,
    timestamp: str | None = None,
    holdout: float = 0.2,
    experiment: str | None = None,
    checks: Sequence[Check] = (),
) -> Callable[[Callable[[TrainingData], object]], Recipe]:
    """Declare a training recipe (used as a decorator on its function).

    Args:
        name: the recipe's name (jobs and policies refer to it).
        model: the registered model it trains versions of.
        dataset: the labelled rows (``name`` for its latest version, or ``name@N``).
        label: the label column.
        features: a feature service (or feature refs) joined point-in-time onto the rows.
        entities: turns the dataset's rows into entity rows (join keys, ``event_timestamp``,
            request fields, label) before the join.
        inputs: the model's input columns (default: every column but the label and times).
        timestamp: the column the holdout is split by: the latest ``holdout`` share of
            rows (default ``event_timestamp`` when present, else a seeded random split).
        experiment: where its runs go (default: the model's name).
        checks: custom checks the gate runs for versions of this recipe.
    """
    if not 0 < holdout < 1:
        raise ValidationError(f"recipe {name!r}: holdout must be a share between 0 and 1")

    def declare(fn: Callable[[TrainingData], object]) -> Recipe:
        doc = (fn.__doc__ or "").strip().splitlines()
        return Recipe(
            name,
            fn,
            model,
            dataset,
            label,
            features,
            entities,
            tuple(inputs) if inputs is not None else None,
            timestamp,
            holdout,
            experiment,
            tuple(checks),
            doc[0] if doc else "",
        )

    return declare


def load_recipes(ws: Workspace) -> dict[str, Recipe]:
    """Every recipe at the top level of the workspace's ``recipes/*.py``, by name."""
    found: dict[str, Recipe] = {}
    for path, module in load_folder(ws.path / RECIPES_DIR, "modelyard_recipes", ValidationError):
        for value in vars(module).values():
            if isinstance(value, Recipe):
                if value.name in found and found[value.name].fn is not value.fn:
                    raise ValidationError(f"recipe {value.name!r} is defined twice ({path})")
                found[value.name] = value
    return found


def get_recipe(ws: Workspace, name: str | Recipe) -> Recipe:
    """The recipe ``name`` of the workspace (or ``name`` itself, a Recipe)."""
    if isinstance(name, Recipe):
        return name
    recipes = load_recipes(ws)
    if name not in recipes:
        known = ", ".join(sorted(recipes)) or f"none in {ws.path / RECIPES_DIR}"
        raise NotFoundError(f"recipe {name!r} does not exist (recipes: {known})")
    return recipes[name]


@dataclass(frozen=True, slots=True)
class TrainResult:
    """A version a recipe trained (or, for a retried key, had trained before)."""

    version: ModelVersion
    run_id: str
    reused: bool
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.version.name,
            "version": self.version.version,
            "uri": self.version.uri,
            "run_id": self.run_id,
            "reused": self.reused,
            "metrics": self.metrics,
        }


def train(
    ws: Workspace,
    name: str | Recipe,
    *,
    key: str | None = None,
    job_id: str | None = None,
) -> TrainResult:
    """Run a recipe: a tracked run, a registered version, its holdout and drift reference.

    With ``key``, a version an earlier call with the same key registered is returned
    (``reused``) instead of training again.
    """
    spec = get_recipe(ws, name)
    experiment = spec.experiment or spec.model
    if key is not None:
        earlier = _trained_before(ws, spec, experiment, key)
        if earlier is not None:
            return earlier
    dataset = ws.datasets.get(spec.dataset)
    tags = {RECIPE_TAG: spec.name, LABEL_TAG: spec.label, **({KEY_TAG: key} if key else {})}
    with ws.start_run(experiment, name=f"{spec.name}-{dataset.number}", tags=tags) as run:
        run.log_input(
            InputKind.DATASET_VERSION,
            f"{dataset.dataset}@{dataset.id}",
            details={"rows": dataset.rows, "number": dataset.number},
        )
        data = _training_data(ws, spec, dataset, run)
        run.log_params({"recipe": spec.name, "holdout": spec.holdout, "rows": len(data.train)})
        estimator = spec.fn(data)
        if estimator is None:
            raise ValidationError(f"recipe {spec.name!r} returned no estimator")
        _keep_holdout(run, data)
        version = ws.registry.register(
            spec.model,
            estimator,
            run_id=run.id,
            input_example=data.holdout[data.inputs].head(5),
            description=f"recipe {spec.name} on {dataset.ref}",
        )
        loaded = ws.registry.load(version.uri)
        metrics = _holdout_metrics(loaded, data)
        run.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
        _store_reference(ws, version, loaded, data)
    result = TrainResult(version, run.id, False, metrics)
    _record(ws, spec, result, dataset, job_id)
    return result


# -- the parts ----------------------------------------------------------------------------


def _trained_before(ws: Workspace, spec: Recipe, experiment: str, key: str) -> TrainResult | None:
    """The version registered by a run tagged with ``key``, if one was."""
    try:
        runs = ws.tracking.search_runs(
            experiments=[experiment], filter=f"tags.`{KEY_TAG}` = '{key.replace(chr(39), '')}'"
        ).runs
    except NotFoundError:  # no experiment yet
        return None
    ids = {r.id for r in runs}
    if not ids:
        return None
    try:
        versions = ws.registry.versions(spec.model)
    except NotFoundError:
        return None
    for version in versions:
        if version.run_id in ids:
            return TrainResult(version, version.run_id, True, {})
    return None


def _training_data(
    ws: Workspace, spec: Recipe, dataset: DatasetVersion, run: ActiveRun
) -> TrainingData:
    table = ws.datasets.read(dataset)
    if spec.entities is not None:
        table = spec.entities(table)
    if spec.features is not None:
        table = ws.features.get_historical_features(table, spec.features, run=run)
    frame: pd.DataFrame = table.to_pandas()
    if spec.label not in frame.columns:
        raise ValidationError(
            f"recipe {spec.name!r}: label {spec.label!r} is not a column of its training "
            f"rows ({', '.join(map(str, frame.columns))})"
        )
    frame = frame[frame[spec.label].notna()]
    stamp = spec.timestamp or ("event_timestamp" if "event_timestamp" in frame else None)
    inputs = list(spec.inputs) if spec.inputs is not None else _inputs(frame, spec.label, stamp)
    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise ValidationError(f"recipe {spec.name!r}: inputs {', '.join(missing)} are missing")
    if stamp is not None:
        frame = frame.sort_values(stamp, kind="stable")
    else:
        frame = frame.sample(frac=1.0, random_state=_SEED)
    cut = len(frame) - max(1, round(len(frame) * spec.holdout))
    if cut < 1:
        raise ValidationError(f"recipe {spec.name!r}: {len(frame)} labelled rows are too few")
    keep = [*inputs, spec.label]
    train_rows = frame.iloc[:cut][keep].reset_index(drop=True)
    holdout_rows = frame.iloc[cut:][keep].reset_index(drop=True)
    return TrainingData(train_rows, holdout_rows, inputs, spec.label, run, dataset, ws)


def _inputs(frame: pd.DataFrame, label: str, stamp: str | None) -> list[str]:
    """Every column but the label and times."""
    return [
        str(c)
        for c in frame.columns
        if c not in (label, stamp) and not pd.api.types.is_datetime64_any_dtype(frame[c])
    ]


def _keep_holdout(run: ActiveRun, data: TrainingData) -> None:
    """The holdout, as Parquet, with the run: the gate scores candidates on it."""
    with tempfile.TemporaryDirectory(prefix="modelyard-holdout-") as tmp:
        path = Path(tmp) / HOLDOUT_ARTIFACT
        data.holdout.to_parquet(path, index=False)
        run.log_artifact(path, HOLDOUT_ARTIFACT)


def _holdout_metrics(model: Any, data: TrainingData) -> dict[str, float]:
    truth = data.holdout[data.label].to_numpy()
    inputs = data.holdout[data.inputs]
    found: dict[str, float] = {}
    try:
        if truth.dtype.kind in "fiub" and np.isin(truth, (0, 1)).all():
            found["accuracy"] = METRICS["accuracy"].value(truth, outputs(model, inputs, "class"))
            if callable(getattr(model.native, "predict_proba", None)):
                scores = outputs(model, inputs, "score")
                found["roc_auc"] = METRICS["roc_auc"].value(truth, scores)
        elif truth.dtype.kind in "fiu":
            values = outputs(model, inputs, "value")
            found["rmse"] = METRICS["rmse"].value(truth.astype(np.float64), values)
    except (ModelyardError, ValueError, TypeError):
        return found  # a model whose outputs are not scored this way: no holdout metrics
    return {k: v for k, v in found.items() if np.isfinite(v)}


def _store_reference(ws: Workspace, version: ModelVersion, model: Any, data: TrainingData) -> None:
    """The holdout's inputs and the new version's predictions on them: the drift
    reference of the version (monitoring compares production with it)."""
    from modelyard.monitoring import PREDICTION

    frame = data.holdout[data.inputs].copy()
    try:
        frame[PREDICTION] = outputs(model, frame, "class")
        ws.monitoring.set_reference(version.uri, frame)
    except (ModelyardError, ValueError, TypeError):
        return  # outputs that are not one value per row: drift of inputs only, later


def _record(
    ws: Workspace, spec: Recipe, result: TrainResult, dataset: DatasetVersion, job_id: str | None
) -> None:
    scores = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()) or "no holdout metrics"
    DecisionLog(ws.db).record(
        DecisionKind.TRAIN,
        spec.model,
        outcome="trained",
        summary=f"recipe {spec.name} trained {result.version.uri} on {dataset.ref}: {scores}",
        evidence={**result.to_dict(), "recipe": spec.name, "dataset": dataset.ref},
        version=result.version.version,
        job_id=job_id,
    )
