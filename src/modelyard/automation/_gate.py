"""The promotion gate: a candidate version must beat the champion before it serves.

Both models score the same rows: a holdout, and the deployment's recent labelled
production data (each model predicts again on the logged inputs). On each, the
candidate's improvement in the metric must exceed ``margin`` and be significant at
``alpha`` by the chosen test (a paired bootstrap of the metric difference, or McNemar's
test on the rows exactly one model gets right). Custom checks, plain callables, may add
any other condition. The verdict and every check's evidence go to the audit log.

Example:
    >>> result = gate(ws, "models:/fraud/5", holdout="transactions@7", label="is_fraud",
    ...               metric="roc_auc", margin=0.002)
    >>> result.passed, result.summary
    (False, 'FAILED: models:/fraud/5 is not better than models:/fraud/4 (champion): ...')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelyard.automation._decisions import Decision, DecisionKind, DecisionLog
from modelyard.automation._evidence import (
    Labelled,
    holdout_data,
    outputs,
    production_data,
    recipe_holdout,
)
from modelyard.automation._stats import (
    METRICS,
    MetricSpec,
    TestOutcome,
    mcnemar,
    metric_spec,
    paired_bootstrap,
)
from modelyard.errors import AliasNotFoundError, ValidationError

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.registry import LoadedModel, ModelVersion

__all__ = ["CheckResult", "CheckStatus", "GateContext", "GateResult", "GateTest", "gate"]

GateTest = Literal["paired_bootstrap", "mcnemar"]
Check = Callable[["GateContext"], Any]
_TESTS = ("paired_bootstrap", "mcnemar")


class CheckStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # no evidence either way (e.g. no labelled production data yet)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of the gate and its evidence. A custom check may return one, a bool, or
    ``(bool, reason)``."""

    name: str
    status: CheckStatus
    reason: str
    metric: str | None = None
    candidate: float | None = None
    champion: float | None = None
    improvement: float | None = None  # positive: the candidate is better
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    samples: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is CheckStatus.PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "reason": self.reason,
            "metric": self.metric,
            "candidate": _number(self.candidate),
            "champion": _number(self.champion),
            "improvement": _number(self.improvement),
            "low": _number(self.low),
            "high": _number(self.high),
            "p_value": _number(self.p_value),
            "samples": self.samples,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class GateContext:
    """What a custom check is given."""

    workspace: Workspace
    candidate: LoadedModel
    champion: LoadedModel | None
    holdout: Labelled | None
    production: Labelled | None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's verdict: ``passed`` when no check failed and at least one scored the
    models (or there is no champion to beat); each check's evidence."""

    passed: bool
    candidate: str
    champion: str | None
    against: str
    summary: str
    checks: tuple[CheckResult, ...]
    settings: dict[str, Any]
    decision_id: str | None = None

    def check(self, name: str) -> CheckResult:
        for found in self.checks:
            if found.name == name:
                return found
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "candidate": self.candidate,
            "champion": self.champion,
            "against": self.against,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
            "settings": self.settings,
            "decision_id": self.decision_id,
        }


def gate(
    ws: Workspace,
    candidate: str,
    against: str = "champion",
    *,
    holdout: Any = None,
    label: str | None = None,
    deployment: str | None = None,
    window: str | dt.timedelta = "7d",
    metric: str | None = None,
    margin: float = 0.0,
    test: GateTest = "paired_bootstrap",
    alpha: float = 0.05,
    checks: Sequence[Check] = (),
    min_samples: int = 30,
    require_production: bool = False,
    n_resamples: int = 1000,
    record: bool = True,
    job_id: str | None = None,
) -> GateResult:
    """Does ``candidate`` beat ``against`` by more than ``margin``?

    Args:
        candidate: the version to judge (``models:/fraud/5``, ``fraud/5``, ``fraud@latest``).
        against: an alias of the candidate's model (``champion``) or another model URI.
        holdout: a dataset ref, a .parquet or .csv file, an Arrow table or a pandas frame
            (with ``label``); None takes the holdout the candidate's recipe kept, if any.
        deployment: whose labelled production data to score (default: the one deployment
            of the model, if there is exactly one).
        window: how far back production data is read.
        metric: ``roc_auc``, ``accuracy``, ``f1``, ``log_loss``, ``rmse``... (default: ROC
            AUC for 0/1 labels, accuracy for other classes, RMSE for numbers; McNemar's
            test always compares accuracy).
        margin: how much better the candidate must be (in the metric's units).
        test: ``paired_bootstrap`` or ``mcnemar``; ``alpha`` its significance level.
        checks: callables taking a :class:`GateContext`, returning a bool, ``(bool,
            reason)`` or a :class:`CheckResult`.
        min_samples: fewer labelled production rows than this skip that check.
        require_production: fail, rather than skip, without enough production rows.
        record: write the verdict to the audit log.
    """
    if test not in _TESTS:
        raise ValidationError(f"unknown gate test {test!r} (use {' or '.join(_TESTS)})")
    if test == "mcnemar" and metric not in (None, "accuracy"):
        raise ValidationError(
            f"McNemar's test compares accuracy, not {metric}; use the paired bootstrap"
        )
    if not 0 < alpha < 1:
        raise ValidationError("alpha must be between 0 and 1")
    registry = ws.registry
    cand_version = registry.resolve(candidate)
    champ_version, against_uri = _incumbent(ws, cand_version, against)
    scoring = _Scoring(metric, margin, test, alpha, n_resamples, min_samples, require_production)
    settings = {**dataclasses.asdict(scoring), "window": str(window)}
    cand_model = registry.load(cand_version.uri)
    champ_model = registry.load(champ_version.uri) if champ_version is not None else None
    held = _holdout(ws, cand_version, holdout, label)
    deployment = deployment or _deployment_of(ws, cand_version.name, against)
    production = _production(ws, deployment, window)
    found: list[CheckResult] = []
    if champ_model is not None and champ_version is not None:
        if champ_version.uri == cand_version.uri:
            found.append(
                CheckResult("candidate", CheckStatus.FAILED, f"{cand_version.uri} is {against}")
            )
        found += scoring.compare(held, production, cand_model, champ_model)
    context = GateContext(ws, cand_model, champ_model, _found(held), _found(production))
    found += [_custom(check, context) for check in checks]
    passed = not any(c.status is CheckStatus.FAILED for c in found)
    summary = _summary(passed, cand_version.uri, champ_version, against, found)
    result = GateResult(
        passed,
        cand_version.uri,
        champ_version.uri if champ_version is not None else None,
        against_uri,
        summary,
        tuple(found),
        settings,
    )
    if not record:
        return result
    decision = _record(ws, result, cand_version, champ_version, deployment, job_id)
    return dataclasses.replace(result, decision_id=decision.id)


# -- the parts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scoring:
    metric: str | None
    margin: float
    test: GateTest
    alpha: float
    resamples: int
    min_samples: int
    require_production: bool

    def compare(
        self,
        holdout: Labelled | str,
        production: Labelled | str,
        candidate: LoadedModel,
        champion: LoadedModel,
    ) -> list[CheckResult]:
        """The holdout and production checks; a failed ``evidence`` check when neither
        could score the models."""
        found = [
            self.score("holdout", holdout, candidate, champion, required=False),
            self.score(
                "production", production, candidate, champion, required=self.require_production
            ),
        ]
        if all(c.status is CheckStatus.SKIPPED for c in found):
            found.append(
                CheckResult(
                    "evidence",
                    CheckStatus.FAILED,
                    "nothing to score the models on: give a holdout (holdout=..., label=...) "
                    "or collect labelled production data",
                )
            )
        return found

    def score(
        self,
        name: str,
        data: Labelled | str | None,
        candidate: LoadedModel,
        champion: LoadedModel,
        *,
        required: bool,
    ) -> CheckResult:
        """Score both models on ``data`` and test the difference."""
        missing = CheckStatus.FAILED if required else CheckStatus.SKIPPED
        if data is None or isinstance(data, str):
            return CheckResult(name, missing, data or f"no {name} data")
        minimum = self.min_samples if name == "production" else 1
        if data.rows < minimum:
            return CheckResult(
                name,
                missing,
                f"{data.rows} rows in {data.source}; at least {minimum} needed",
                samples=data.rows,
            )
        spec = self._spec(data.labels, candidate, champion)
        try:
            cand_out = outputs(candidate, data.inputs, spec.needs)
            champ_out = outputs(champion, data.inputs, spec.needs)
        except Exception as exc:  # a model that cannot predict these rows fails the check
            reason = f"cannot score {data.source}: {type(exc).__name__}: {exc}"
            return CheckResult(name, CheckStatus.FAILED, reason)
        truth = _comparable(data.labels, cand_out)
        if self.test == "mcnemar":
            outcome = mcnemar(truth, cand_out, champ_out, margin=self.margin)
        else:
            outcome = paired_bootstrap(
                spec, truth, cand_out, champ_out, margin=self.margin, n_resamples=self.resamples
            )
        cand_value, champ_value = spec.value(truth, cand_out), spec.value(truth, champ_out)
        better = outcome.improvement > self.margin and outcome.p_value < self.alpha
        reason = f"{spec.name} {cand_value:.4f} vs {champ_value:.4f}: " + self._why(outcome)
        return CheckResult(
            name,
            CheckStatus.PASSED if better else CheckStatus.FAILED,
            reason,
            metric=spec.name,
            candidate=cand_value,
            champion=champ_value,
            improvement=outcome.improvement,
            low=outcome.low,
            high=outcome.high,
            p_value=outcome.p_value,
            samples=outcome.samples,
            details={"test": outcome.test, "source": data.source, **outcome.details},
        )

    def _why(self, outcome: TestOutcome) -> str:
        gain, p = outcome.improvement, outcome.p_value
        if gain <= self.margin:
            return f"{gain:+.4f}, needs more than {self.margin:+g}"
        if p >= self.alpha:
            return f"{gain:+.4f} is not significant (p={p:.3g} >= {self.alpha:g})"
        return f"better by {gain:+.4f} > {self.margin:+g} (p={p:.3g})"

    def _spec(
        self, labels: np.ndarray, candidate: LoadedModel, champion: LoadedModel
    ) -> MetricSpec:
        if self.test == "mcnemar":
            return METRICS["accuracy"]
        if self.metric is not None:
            return metric_spec(self.metric)
        if labels.dtype.kind not in "fiub":
            return METRICS["accuracy"]
        values = np.unique(labels)
        if np.isin(values, (0.0, 1.0)).all():
            scoreable = all(
                callable(getattr(m.native, "predict_proba", None)) for m in (candidate, champion)
            )
            return METRICS["roc_auc" if scoreable else "accuracy"]
        if np.allclose(values, np.round(values)) and values.size <= 20:
            return METRICS["accuracy"]
        return METRICS["rmse"]


def _comparable(labels: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Labels in the type of the model's outputs, so that classes compare equal."""
    if labels.dtype.kind in "fiub" and output.dtype.kind in "fiub":
        return labels.astype(np.float64)
    return labels.astype(str) if output.dtype.kind in "USO" else labels


def _incumbent(
    ws: Workspace, candidate: ModelVersion, against: str
) -> tuple[ModelVersion | None, str]:
    """The version the candidate is held against, and the URI it was named by; None
    when the alias does not exist yet (a first model has nothing to beat)."""
    uri = against if ("/" in against or "@" in against or ":" in against) else None
    uri = uri or f"models:/{candidate.name}@{against}"
    try:
        return ws.registry.resolve(uri), uri
    except AliasNotFoundError:
        return None, uri


def _holdout(
    ws: Workspace, version: ModelVersion, holdout: Any, label: str | None
) -> Labelled | str:
    if holdout is not None:
        return holdout_data(ws, holdout, label)
    kept = recipe_holdout(ws, version)
    return kept if kept is not None else "no holdout given, and the candidate's run kept none"


def _deployment_of(ws: Workspace, model: str, alias: str) -> str | None:
    """The deployment of ``model``, when exactly one serves it (preferring those whose
    traffic routes to ``alias``)."""
    serving = [d for d in ws.deployments.list() if d.spec.model == model]
    routed = [d for d in serving if alias in d.spec.targets]
    chosen = routed or serving
    return chosen[0].name if len(chosen) == 1 else None


def _production(
    ws: Workspace, deployment: str | None, window: str | dt.timedelta
) -> Labelled | str:
    if deployment is None:
        return "no deployment to read labelled production data from (give deployment=...)"
    return production_data(ws, deployment, window)


def _found(data: Labelled | str) -> Labelled | None:
    return data if isinstance(data, Labelled) else None


def _custom(check: Check, context: GateContext) -> CheckResult:
    name = getattr(check, "__name__", type(check).__name__)
    try:
        value = check(context)
    except Exception as exc:  # a custom check that breaks fails the gate, with the error
        return CheckResult(name, CheckStatus.FAILED, f"raised {type(exc).__name__}: {exc}")
    if isinstance(value, CheckResult):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        ok, reason = value
        return CheckResult(name, _status(bool(ok)), str(reason))
    return CheckResult(name, _status(bool(value)), "passed" if value else "failed")


def _status(ok: bool) -> CheckStatus:
    return CheckStatus.PASSED if ok else CheckStatus.FAILED


def _summary(
    passed: bool,
    candidate: str,
    champion: ModelVersion | None,
    against: str,
    checks: list[CheckResult],
) -> str:
    if champion is None:
        verdict = "PASSED" if passed else "FAILED"
        return f"{verdict}: {candidate} has no {against} to beat" + (
            "" if passed else f"; failed: {_failed(checks)}"
        )
    incumbent = f"{champion.uri} ({against})"
    if passed:
        scored = [c for c in checks if c.passed and c.metric]
        detail = "; ".join(
            f"{c.name} {c.metric} {c.improvement:+.4f} (p={c.p_value:.3g})" for c in scored
        )
        return f"PASSED: {candidate} beats {incumbent}: {detail}"
    return f"FAILED: {candidate} is not better than {incumbent}: {_failed(checks)}"


def _failed(checks: list[CheckResult]) -> str:
    return "; ".join(f"{c.name}: {c.reason}" for c in checks if c.status is CheckStatus.FAILED)


def _record(
    ws: Workspace,
    result: GateResult,
    candidate: ModelVersion,
    champion: ModelVersion | None,
    deployment: str | None,
    job_id: str | None,
) -> Decision:
    return DecisionLog(ws.db).record(
        DecisionKind.GATE,
        candidate.name,
        outcome="passed" if result.passed else "failed",
        summary=result.summary,
        evidence=result.to_dict(),
        deployment=deployment,
        version=candidate.version,
        baseline_version=champion.version if champion is not None else None,
        job_id=job_id,
    )


def _number(value: float | None) -> float | None:
    return value if value is not None and np.isfinite(value) else None
