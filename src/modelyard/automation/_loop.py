"""One round of automation: evaluate alert rules, then retraining policies, then advance
running canaries. ``modelyard automate run --every 1m`` (or the ``automate`` job kind on a
schedule) repeats it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.automation._canary import Canary, advance_canaries
from modelyard.automation._policy import Policy, Trigger, evaluate_policies

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.monitoring import Alert

__all__ = ["AutomationRound", "run_automation"]


@dataclass(frozen=True, slots=True)
class AutomationRound:
    """What one round did: alerts that fired or resolved, retrainings enqueued, and the
    canaries advanced (still running, promoted or rolled back)."""

    alerts: list[Alert]
    triggered: list[Trigger]
    canaries: list[Canary]

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": [a.to_dict() for a in self.alerts],
            "triggered": [t.to_dict() for t in self.triggered],
            "canaries": [c.to_dict() for c in self.canaries],
        }


def run_automation(
    ws: Workspace,
    *,
    alerts: bool = True,
    policies: dict[str, Policy] | None = None,
    now: int | None = None,
) -> AutomationRound:
    """Alert rules (unless ``alerts`` is off), policies, canaries, once."""
    changed = ws.monitoring.evaluate_alerts(until_ms=now) if alerts else []
    triggered = evaluate_policies(ws, policies, now=now)
    advanced = advance_canaries(ws, now=now)
    return AutomationRound(changed, triggered, advanced)
