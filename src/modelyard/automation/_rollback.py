"""Rolling a model back in one step: the alias returns to its previous version, a canary
in flight is ended, and the decision is in the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.automation._canary import CHAMPION, end_canary, list_canaries
from modelyard.automation._decisions import DecisionKind, DecisionLog

if TYPE_CHECKING:
    from modelyard._workspace import Workspace
    from modelyard.registry import AliasEvent

__all__ = ["rollback"]


def rollback(
    ws: Workspace, model: str, *, alias: str = CHAMPION, reason: str | None = None
) -> AliasEvent:
    """Return ``alias`` (the champion) of ``model`` to the version it named before (again:
    one more step back, as the registry's undo stack goes). Canaries running on the
    model's deployments are rolled back too, so the restored champion takes all traffic.

    Raises ConflictError (nothing changed) when the alias has no earlier version.
    """
    why = reason or "rolled back by command"
    event = ws.registry.rollback(model, alias, reason=why)
    ended = []
    if alias == CHAMPION:
        for canary in list_canaries(ws):
            if canary.running and canary.model == model:
                end_canary(
                    ws, canary.deployment, promote=False, reason=f"champion rolled back: {why}"
                )
                ended.append(canary.id)
    DecisionLog(ws.db).record(
        DecisionKind.ROLLBACK,
        model,
        outcome="rolled_back",
        summary=f"{alias} rolled back from v{event.previous_version} to v{event.version}: {why}",
        evidence={"alias_event": event.to_dict(), "canaries_ended": ended},
        version=event.version,
        baseline_version=event.previous_version,
    )
    return event
