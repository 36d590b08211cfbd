"""Automation, the layer above the runtimes: training recipes, the promotion gate,
canaries, rollback, retraining policies, and the audit log of every decision.

Example:
    >>> from modelyard import automation
    >>> automation.train(ws, "fraud")                      # recipes/fraud.py
    >>> result = automation.gate(ws, "models:/fraud/5", against="champion")
    >>> automation.start_canary(ws, "fraud", 5, automation.CanaryConfig(share=0.1))
    >>> automation.advance_canary(ws, "fraud")             # promoted, rolled back or running
    >>> automation.run_automation(ws)                      # alerts, policies, canaries
    >>> automation.rollback(ws, "fraud")                   # the previous champion, at once

Names are imported on first use (PEP 562): the job registry imports the job kinds
(``modelyard.automation._kinds``) without bringing pandas, DuckDB and the gate along.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelyard.automation._canary import (
        Canary,
        CanaryConfig,
        CanaryStatus,
        advance_canaries,
        advance_canary,
        end_canary,
        list_canaries,
        start_canary,
    )
    from modelyard.automation._decisions import Decision, DecisionKind, DecisionLog
    from modelyard.automation._gate import (
        CheckResult,
        CheckStatus,
        GateContext,
        GateResult,
        GateTest,
        gate,
    )
    from modelyard.automation._kinds import (
        AutomatePayload,
        EvaluatePayload,
        RetrainPayload,
        TrainPayload,
    )
    from modelyard.automation._loop import AutomationRound, run_automation
    from modelyard.automation._policy import (
        GateSettings,
        Policy,
        Trigger,
        evaluate_policies,
        load_policies,
    )
    from modelyard.automation._recipes import (
        Recipe,
        TrainingData,
        TrainResult,
        load_recipes,
        recipe,
        train,
    )
    from modelyard.automation._retrain import RetrainResult, retrain
    from modelyard.automation._rollback import rollback

_LAZY = {
    "AutomatePayload": "_kinds",
    "AutomationRound": "_loop",
    "Canary": "_canary",
    "CanaryConfig": "_canary",
    "CanaryStatus": "_canary",
    "CheckResult": "_gate",
    "CheckStatus": "_gate",
    "Decision": "_decisions",
    "DecisionKind": "_decisions",
    "DecisionLog": "_decisions",
    "EvaluatePayload": "_kinds",
    "GateContext": "_gate",
    "GateResult": "_gate",
    "GateSettings": "_policy",
    "GateTest": "_gate",
    "Policy": "_policy",
    "Recipe": "_recipes",
    "RetrainPayload": "_kinds",
    "RetrainResult": "_retrain",
    "TrainPayload": "_kinds",
    "TrainResult": "_recipes",
    "TrainingData": "_recipes",
    "Trigger": "_policy",
    "advance_canaries": "_canary",
    "advance_canary": "_canary",
    "end_canary": "_canary",
    "evaluate_policies": "_policy",
    "gate": "_gate",
    "list_canaries": "_canary",
    "load_policies": "_policy",
    "load_recipes": "_recipes",
    "recipe": "_recipes",
    "retrain": "_retrain",
    "rollback": "_rollback",
    "run_automation": "_loop",
    "start_canary": "_canary",
    "train": "_recipes",
}

__all__ = [
    "AutomatePayload",
    "AutomationRound",
    "Canary",
    "CanaryConfig",
    "CanaryStatus",
    "CheckResult",
    "CheckStatus",
    "Decision",
    "DecisionKind",
    "DecisionLog",
    "EvaluatePayload",
    "GateContext",
    "GateResult",
    "GateSettings",
    "GateTest",
    "Policy",
    "Recipe",
    "RetrainPayload",
    "RetrainResult",
    "TrainPayload",
    "TrainResult",
    "TrainingData",
    "Trigger",
    "advance_canaries",
    "advance_canary",
    "end_canary",
    "evaluate_policies",
    "gate",
    "list_canaries",
    "load_policies",
    "load_recipes",
    "recipe",
    "retrain",
    "rollback",
    "run_automation",
    "start_canary",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard.automation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"modelyard.automation.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
