"""``modelyard quickstart``: fraud data through a pipeline and the feature store to two
tracked models, a champion, and a deployment that serves it from the online store.

The steps: raw CSV exports and stream events -> the ``transactions`` pipeline (checks,
quarantine) -> the ``fraud_features`` pipeline (rolling per-user and per-merchant
statistics) -> feature definitions applied and materialized -> point-in-time correct
training data -> two tracked runs -> the better one registered as champion -> the
``fraud`` deployment, declaring the ``fraud_features`` service -> a skew check of offline
against online values -> new transactions scored through the deployment, their features
read from the online store. Each step is a plain call on the public API, so the
quickstart is also the canonical example of using modelyard from Python. Later issues
grow it into the whole loop (monitoring, retraining).
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard._workspace import Workspace, init_workspace
from modelyard.data import DatasetVersion
from modelyard.deployments import DeploymentSpec
from modelyard.errors import DeploymentNotFoundError
from modelyard.features import SkewReport
from modelyard.quickstart._data import LABEL, generate_transactions, time_split
from modelyard.quickstart._features import (
    FEATURE_PIPELINE,
    MODEL_INPUTS,
    SERVICE,
    entity_rows,
    write_feature_modules,
)
from modelyard.quickstart._loop import LoopResult, close_the_loop, write_automation
from modelyard.quickstart._monitoring import (
    MonitoringResult,
    add_rules,
    later_days,
    replay,
    score_through,
    set_reference,
)
from modelyard.quickstart._pipeline import PIPELINE, write_pipeline, write_sources
from modelyard.registry import ModelVersion
from modelyard.tracking import ActiveRun, InputKind

__all__ = ["DEPLOYMENT", "EXPERIMENT", "MODEL_NAME", "QuickstartResult", "run_quickstart"]

EXPERIMENT = "fraud-quickstart"
MODEL_NAME = "fraud"
DEPLOYMENT = "fraud"
DAYS = 60
_CODES = ["merchant_category_code", "channel_code"]
_REPLAY_DAYS = 6


@dataclass(frozen=True, slots=True)
class QuickstartResult:
    workspace: Path
    dataset: DatasetVersion
    run_ids: dict[str, str]
    scores: dict[str, float]
    champion: ModelVersion
    skew: SkewReport
    monitoring: MonitoringResult
    loop: LoopResult
    seconds: float


def data_start(today: dt.date | None = None) -> dt.datetime:
    """The first day of the quickstart's training data. It covers :data:`DAYS` days and
    ends a week before midnight (UTC) today; the week after it is what the replay and the
    canary send through the deployment. Everything lies in the past, so feature freshness
    (a view's ttl) holds now, as in production."""
    today = today or dt.datetime.now(dt.UTC).date()
    back = DAYS + _REPLAY_DAYS + 1
    return dt.datetime.combine(today - dt.timedelta(days=back), dt.time(), dt.UTC)


def _candidates(seed: int) -> dict[str, tuple[Any, dict[str, Any]]]:
    numeric = [f for f in MODEL_INPUTS if f not in _CODES]
    scaled = Pipeline([("fill", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    linear = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", scaled, numeric),
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
    start = data_start()
    with workspace, _progress(console) as progress:
        step = progress.add_task("generating transactions", total=None)
        raw = generate_transactions(rows, seed=seed, start=start, days=DAYS)
        files, events = write_sources(workspace, raw)
        write_pipeline(workspace)
        write_feature_modules(workspace)
        progress.update(
            step,
            description=f"generated {raw.num_rows:,} transactions: {files} daily CSV exports, "
            f"{events:,} stream events",
            total=1,
            completed=1,
        )
        dataset = _run_pipelines(workspace, progress)

        step = progress.add_task("feature store", total=None)
        plan = workspace.features.apply()
        progress.update(step, description="feature store: materializing the online store")
        written = sum(r.rows_written for r in workspace.features.materialize())
        progress.update(
            step,
            description=f"feature store: {len(plan.changed)} definitions applied, "
            f"{written:,} entity rows materialized online",
            total=1,
            completed=1,
        )

        step = progress.add_task("training data (point-in-time join)", total=None)
        entities = entity_rows(workspace.datasets.read(dataset))
        training = workspace.features.get_historical_features(entities, SERVICE)
        train, holdout = (_frame(t) for t in time_split(training))
        progress.update(
            step,
            description=f"training data: {len(train):,} train / {len(holdout):,} holdout rows, "
            f"{len(MODEL_INPUTS)} features",
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
                workspace.features.log_training_inputs(run, SERVICE)
                model.fit(train[list(MODEL_INPUTS)], train[LABEL])
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
        _deploy(workspace)
        holdout_f1 = set_reference(workspace, champion, models[best], holdout)
        add_rules(workspace, DEPLOYMENT, holdout_f1)
        progress.update(
            step,
            description=f"registered {champion.uri} as champion, deployment {DEPLOYMENT!r} "
            f"serves it with the {SERVICE!r} features",
            total=1,
            completed=1,
        )

        step = progress.add_task("skew check", total=None)
        skew = workspace.features.skew(SERVICE, sample=500, seed=seed)
        progress.update(
            step,
            description=f"skew: {len(skew.mismatches)} mismatches in {skew.compared:,} "
            "offline and online values",
            total=1,
            completed=1,
        )

        days = _REPLAY_DAYS
        later = later_days(
            start + dt.timedelta(days=DAYS), max(1_000, rows * days // DAYS), seed + 1
        )
        step = progress.add_task(
            f"replaying {days} later days ({later.num_rows:,} transactions)", total=None
        )
        ids = asyncio.run(score_through(workspace, DEPLOYMENT, later))
        progress.update(step, description="labels arriving; evaluating alert rules")
        watched = replay(workspace, DEPLOYMENT, later, ids)
        progress.update(
            step,
            description=f"replayed {watched.predictions:,} predictions of {days} later days, "
            f"{watched.labels:,} labels: {len(watched.alerts)} alerts fired",
            total=1,
            completed=1,
        )

        step = progress.add_task("closing the loop: retraining on the alerts", total=None)
        write_automation(workspace)
        loop = close_the_loop(  # the last day before today: the canary's traffic
            workspace, DEPLOYMENT, later, start + dt.timedelta(days=DAYS + days), seed + 2
        )
        progress.update(
            step,
            description=f"retrained {loop.retrained or '-'}; canary {loop.canary}; "
            f"champion {loop.champion}",
            total=1,
            completed=1,
        )
    result = QuickstartResult(
        workspace.path,
        dataset,
        run_ids,
        scores,
        champion,
        skew,
        watched,
        loop,
        time.perf_counter() - started,
    )
    _summary(console, result)
    return result


def _run_pipelines(workspace: Workspace, progress: Progress) -> DatasetVersion:
    """The ``transactions`` pipeline, then the features pipeline over its dataset."""
    step = progress.add_task(f"pipeline {PIPELINE}", total=None)

    def show(stage: str, done: int, total: int) -> None:
        progress.update(step, description=f"pipeline {PIPELINE}: {stage}", total=total,
                        completed=done)  # fmt: skip

    pipeline_run = workspace.pipelines.run(PIPELINE, progress=show)
    dataset = workspace.datasets.get(PIPELINE)
    quarantined = sum(o["rows_added"] for o in pipeline_run.outputs if o["kind"] != "data")
    progress.update(
        step,
        description=f"pipeline {PIPELINE}: {dataset.ref} with {dataset.rows:,} rows "
        f"({quarantined} quarantined)",
        total=1,
        completed=1,
    )
    step = progress.add_task(f"pipeline {FEATURE_PIPELINE}", total=None)
    workspace.pipelines.run(FEATURE_PIPELINE, progress=show)
    users, merchants = (
        workspace.datasets.get("user_stats"),
        workspace.datasets.get("merchant_stats"),
    )
    progress.update(
        step,
        description=f"pipeline {FEATURE_PIPELINE}: {users.ref} ({users.rows:,} rows), "
        f"{merchants.ref} ({merchants.rows:,} rows)",
        total=1,
        completed=1,
    )
    return dataset


def _frame(table: pa.Table) -> pd.DataFrame:
    """Model inputs as floats (a count is missing, NaN, for a user with no history) and
    the label."""
    frame: pd.DataFrame = table.select([*MODEL_INPUTS, LABEL]).to_pandas()
    return frame.astype(dict.fromkeys(MODEL_INPUTS, "float64"))


def _deploy(workspace: Workspace) -> None:
    """The ``fraud`` deployment: the champion, fed by the feature service."""
    spec = DeploymentSpec(name=DEPLOYMENT, model=MODEL_NAME, feature_service=SERVICE)
    try:
        workspace.deployments.get(DEPLOYMENT)
    except DeploymentNotFoundError:
        workspace.deployments.create(spec)
    else:
        workspace.deployments.update(DEPLOYMENT, feature_service=SERVICE)


def _evaluate(run: ActiveRun, model: Any, holdout: pd.DataFrame) -> float:
    proba = model.predict_proba(holdout[list(MODEL_INPUTS)])[:, 1]
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
    example = holdout[list(MODEL_INPUTS)].head(5)
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
    skew = result.skew
    console.print(
        f"[bold]features:[/] {SERVICE!r} served from the online store; skew check: "
        f"{len(skew.mismatches)} mismatches in {skew.compared:,} values of {skew.entities} "
        f"entities"
    )
    watched = result.monitoring
    f1 = watched.performance.metrics.get("f1") if watched.performance else None
    console.print(
        f"[bold]monitoring:[/] {watched.predictions:,} predictions of {_REPLAY_DAYS} later, "
        f"shifted days through {DEPLOYMENT!r}; {watched.labels:,} labels came back; "
        f"F1 {f1.value:.3f}"
        if f1
        else "[bold]monitoring:[/] no labelled predictions"
    )
    console.print(f"  drifted inputs: {', '.join(watched.drifted_columns) or 'none'}")
    for alert in watched.alerts:
        console.print(
            f"  [red]alert[/] {alert.rule}: {alert.evidence.get('condition')}, value "
            f"{alert.value:.3g}"
            if alert.value is not None
            else f"  alert {alert.rule}"
        )
    console.print(f"  report: {watched.report}")
    loop = result.loop
    console.print(
        f"[bold]automation:[/] the alerts retrained {loop.retrained or 'nothing'}; "
        f"gate: {loop.gate}"
    )
    console.print(f"  canary: {loop.canary}; champion now {loop.champion}")
    console.print(f"done in {result.seconds:.1f}s. Look around:")
    for command in (
        f"modelyard -w {ws} data show {result.dataset.dataset}@latest",
        f"modelyard -w {ws} data lineage models:/{MODEL_NAME}@champion",
        f"modelyard -w {ws} runs list",
        f"modelyard -w {ws} runs compare " + " ".join(result.run_ids.values()),
        f"modelyard -w {ws} models show {MODEL_NAME}",
        f"modelyard -w {ws} models load-check models:/{MODEL_NAME}@champion",
        f"modelyard -w {ws} features show {SERVICE}",
        f"modelyard -w {ws} features skew {SERVICE}",
        f"modelyard -w {ws} alerts list",
        f"modelyard -w {ws} models history {MODEL_NAME}",
        f"modelyard -w {ws} jobs list",
        f"modelyard -w {ws} monitor performance {DEPLOYMENT} --window 1d",
        f"modelyard -w {ws} monitor drift {DEPLOYMENT} --window 1d",
        f"modelyard -w {ws} serve   # then:",
        f"curl -s localhost:8000/v1/deployments/{DEPLOYMENT}/predict -d "
        '\'{"records": [{"user_id": 7, "merchant_id": 3, "amount": 950.0, '
        '"hour": 3, "country": "BR", "home_country": "US", '
        '"channel": "online", "merchant_category": "electronics"}]}\'',
    ):
        console.print(f"  {command}")
