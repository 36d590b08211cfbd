"""Automation: promotion gates, the audit log, training recipes, retraining policies and
canaries (the layer above the runtimes)."""

from __future__ import annotations

from modelyard.automation._decisions import Decision, DecisionKind, DecisionLog
from modelyard.automation._gate import (
    CheckResult,
    CheckStatus,
    GateContext,
    GateResult,
    GateTest,
    gate,
)

__all__ = [
    "CheckResult",
    "CheckStatus",
    "Decision",
    "DecisionKind",
    "DecisionLog",
    "GateContext",
    "GateResult",
    "GateTest",
    "gate",
]
