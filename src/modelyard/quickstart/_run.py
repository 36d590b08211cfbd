"""``modelyard quickstart``: a workspace, fraud data, two tracked models, a champion.

Later issues grow this into the whole loop (pipelines, features, serving, monitoring,
retraining); each step is a plain function call on the public API, so the quickstart is
also the canonical example of using modelyard from Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard._workspace import Workspace, init_workspace
from modelyard.data import DatasetVersion
from modelyard.quickstart._data import (
    FEATURES,
    LABEL,
    add_features,
    generate_transactions,
    time_split,
)
from modelyard.quickstart._pipeline import PIPELINE, write_pipeline, write_sources
from modelyard.registry import ModelVersion
from modelyard.tracking import ActiveRun, InputKind

__all__ = ["EXPERIMENT", "MODEL_NAME", "QuickstartResult", "run_quickstart"]

EXPERIMENT = "fraud-quickstart"
MODEL_NAME = "fraud"
_CODES = ["merchant_category_code", "channel_code"]


@dataclass(frozen=True, slots=True)
class QuickstartResult:
    workspace: Path
    dataset: DatasetVersion
    run_ids: dict[str, str]
    scores: dict[str, float]
    champion: ModelVersion
    seconds: float


def _candidates(seed: int) -> dict[str, tuple[Any, dict[str, Any]]]:
    numeric = [f for f in FEATURES if f not in _CODES]
    linear = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), _CODES),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500, C=1.0)),
        ]
    )
    hgb_params = {
        "max_iter": 300,
        "learning_rate": 0.08,
        "max_leaf_nodes": 31,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 20,
        "random_state": seed,
    }
    return {
        "logistic_regression": (
            linear,
            {"model": "logistic_regression", "C": 1.0, "max_iter": 500},
        ),
        "hist_gradient_boosting": (
            HistGradientBoostingClassifier(**hgb_params),
            {"model": "hist_gradient_boosting", **hgb_params},
        ),
    }


def run_quickstart(
    directory: Path, *, rows: int = 200_000, seed: int = 0, console: Console | None = None
) -> QuickstartResult:
    """Create a workspace in ``directory`` and train, track and register the fraud models."""
    console = console or Console()
    started = time.perf_counter()
    workspace, _ = init_workspace(directory)
    with workspace, _progress(console) as progress:
        step = progress.add_task("generating transactions", total=None)
        raw = generate_transactions(rows, seed=seed)
        files, events = write_sources(workspace, raw)
        write_pipeline(workspace)
        progress.update(
            step,
            description=f"generated {raw.num_rows:,} transactions: {files} daily CSV exports, "
            f"{events:,} stream events",
            total=1,
            completed=1,
        )

        step = progress.add_task(f"pipeline {PIPELINE}", total=None)

        def show(stage: str, done: int, total: int) -> None:
            progress.update(step, description=f"pipeline {PIPELINE}: {stage}", total=total,
                            completed=done)  # fmt: skip

        pipeline_run = workspace.pipelines.run(PIPELINE, progress=show)
        dataset = workspace.datasets.get(PIPELINE)
        quarantined = sum(o["rows_added"] for o in pipeline_run.outputs if o["kind"] != "data")
        progress.update(
            step,
            description=f"pipeline: {dataset.ref} with {dataset.rows:,} rows "
            f"({quarantined} quarantined)",
            total=1,
            completed=1,
        )

        step = progress.add_task("computing features", total=None)
        cleaned = workspace.datasets.read(dataset).sort_by("event_timestamp")
        train, holdout = (_frame(t) for t in time_split(add_features(cleaned)))
        progress.update(
            step,
            description=f"features: {len(train):,} train / {len(holdout):,} holdout rows",
            total=1,
            completed=1,
        )

        run_ids: dict[str, str] = {}
        scores: dict[str, float] = {}
        models: dict[str, Any] = {}
        for name, (model, params) in _candidates(seed).items():
            step = progress.add_task(f"training {name}", total=None)
            with workspace.start_run(
                EXPERIMENT, name=name, params=params, tags={"source": "quickstart"}
            ) as run:
                run.log_input(
                    InputKind.DATASET_VERSION,
                    f"{dataset.dataset}@{dataset.id}",
                    details={"rows": dataset.rows, "number": dataset.number, "seed": seed},
                )
                model.fit(train[list(FEATURES)], train[LABEL])
                scores[name] = _evaluate(run, model, holdout)
            run_ids[name], models[name] = run.id, model
            progress.update(
                step,
                description=f"trained {name}: ROC AUC {scores[name]:.4f}",
                total=1,
                completed=1,
            )

        best = max(scores, key=lambda n: scores[n])
        step = progress.add_task(f"registering {best}", total=None)
        champion = _register(workspace, best, models[best], run_ids[best], holdout, scores)
        progress.update(
            step, description=f"registered {champion.uri} as champion", total=1, completed=1
        )
    result = QuickstartResult(
        workspace.path, dataset, run_ids, scores, champion, time.perf_counter() - started
    )
    _summary(console, result)
    return result


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.select([*FEATURES, LABEL]).to_pandas()
    return frame


def _evaluate(run: ActiveRun, model: Any, holdout: pd.DataFrame) -> float:
    proba = model.predict_proba(holdout[list(FEATURES)])[:, 1]
    truth = holdout[LABEL].to_numpy()
    auc = float(roc_auc_score(truth, proba))
    run.log_metrics(
        {
            "roc_auc": auc,
            "pr_auc": float(average_precision_score(truth, proba)),
            "log_loss": float(log_loss(truth, proba)),
            "positive_rate": float(truth.mean()),
        }
    )
    for i, score in enumerate(getattr(model, "validation_score_", [])):
        run.log_metric("validation_loss", -float(score), step=i)
    return auc


def _register(
    workspace: Workspace,
    name: str,
    model: Any,
    run_id: str,
    holdout: pd.DataFrame,
    scores: dict[str, float],
) -> ModelVersion:
    example = holdout[list(FEATURES)].head(5)
    version = workspace.registry.register(
        MODEL_NAME,
        model,
        run_id=run_id,
        input_example=example,
        description=f"{name}, holdout ROC AUC {scores[name]:.4f}",
    )
    others = ", ".join(f"{n} {s:.4f}" for n, s in scores.items() if n != name)
    workspace.registry.set_alias(
        MODEL_NAME,
        "champion",
        version.version,
        reason=f"quickstart: best holdout ROC AUC {scores[name]:.4f} (vs {others})",
    )
    return workspace.registry.get_version(MODEL_NAME, version.version)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _summary(console: Console, result: QuickstartResult) -> None:
    ws = result.workspace
    console.print()
    console.print(f"  data: {result.dataset.ref} ({result.dataset.rows:,} rows, version "
                  f"{result.dataset.number} of dataset {result.dataset.dataset!r})")  # fmt: skip
    for name, score in sorted(result.scores.items(), key=lambda kv: -kv[1]):
        console.print(f"  {name:<24} ROC AUC {score:.4f}  run {result.run_ids[name]}")
    console.print(
        f"\n[bold]champion:[/] models:/{MODEL_NAME}@champion -> {result.champion.uri} "
        f"({result.champion.flavor}, {result.champion.digest[:19]}…)"
    )
    console.print(f"done in {result.seconds:.1f}s. Look around:")
    for command in (
        f"modelyard -w {ws} data show {result.dataset.dataset}@latest",
        f"modelyard -w {ws} data lineage models:/{MODEL_NAME}@champion",
        f"modelyard -w {ws} runs list",
        f"modelyard -w {ws} runs compare " + " ".join(result.run_ids.values()),
        f"modelyard -w {ws} models show {MODEL_NAME}",
        f"modelyard -w {ws} models load-check models:/{MODEL_NAME}@champion",
    ):
        console.print(f"  {command}")
