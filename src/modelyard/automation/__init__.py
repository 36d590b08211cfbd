"""Automation: promotion gates, the audit log, training recipes, retraining policies and
canaries (the layer above the runtimes)."""

from __future__ import annotations

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
from modelyard.automation._rollback import rollback

__all__ = [
    "Canary",
    "CanaryConfig",
    "CanaryStatus",
    "CheckResult",
    "CheckStatus",
    "Decision",
    "DecisionKind",
    "DecisionLog",
    "GateContext",
    "GateResult",
    "GateTest",
    "advance_canaries",
    "advance_canary",
    "end_canary",
    "gate",
    "list_canaries",
    "rollback",
    "start_canary",
]
