"""A deployment's targets: what each resolves to, what actually serves it, and why not.

A target is an alias (``champion``), a version (``3``, ``v3``) or ``latest``. It is resolved
against the registered model read at each refresh (its aliases and latest version), with no
further query. A :class:`TargetSlot` keeps the version now serving apart from the version
the target resolves to: they differ while a new version loads, or after it failed to load,
when the previous one goes on serving. A :class:`TargetSet` holds a deployment's slots, the
slots of a changed spec being prepared, and the loaded versions they share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelyard.deployments import TargetState, TargetStatus
from modelyard.errors import AliasNotFoundError, ModelVersionNotFoundError
from modelyard.registry import RegisteredModel
from modelyard.serving._served import ServedVersion

__all__ = ["TargetSet", "TargetSlot", "resolve_target"]

_RETRY_FAILED_S = 30.0
_VERSION_PREFIXES = ("v", "V")


def resolve_target(target: str, model: RegisteredModel) -> int:
    """The version ``target`` names in ``model`` now.

    Raises:
        AliasNotFoundError: no such alias.
        ModelVersionNotFoundError: no such version (or no version at all).
    """
    digits = target[1:] if target.startswith(_VERSION_PREFIXES) else target
    if digits.isdigit():
        version = int(digits)
        if not 1 <= version <= model.latest_version:
            raise ModelVersionNotFoundError(model.name, version, model.latest_version)
        return version
    if target.lower() == "latest":
        if model.latest_version < 1:
            raise ModelVersionNotFoundError(model.name, 1, 0)
        return model.latest_version
    if target not in model.aliases:
        raise AliasNotFoundError(model.name, target, sorted(model.aliases))
    return model.aliases[target]


@dataclass(slots=True)
class TargetSlot:
    """One target of a deployment and its serving state."""

    target: str
    version: int | None = None  # what the target resolves to
    served: ServedVersion | None = None  # what answers its requests
    state: TargetState = TargetState.LOADING
    error: str | None = None
    failed_at: float = 0.0

    def wants(self, version: int) -> bool:
        """Whether ``version`` should be loaded for this target now: it is new to the
        target, or it failed a while ago and is due another try."""
        if self.served is not None and self.served.version == version:
            return False
        if version != self.version or self.state != TargetState.FAILED:
            return True
        return time.monotonic() - self.failed_at >= _RETRY_FAILED_S

    def serve(self, served: ServedVersion) -> None:
        self.version = served.version
        self.served = served
        self.state = TargetState.SERVING
        self.error = None

    def fail(self, version: int | None, error: str) -> None:
        """``version`` cannot be served (or the target does not resolve, ``None``); the
        previous version, if any, goes on serving."""
        self.version = version
        self.state = TargetState.FAILED
        self.error = error
        self.failed_at = time.monotonic()

    def status(self) -> TargetStatus:
        return TargetStatus(
            target=self.target,
            version=self.version,
            state=self.state,
            error=self.error,
            serving_version=self.served.version if self.served else None,
        )


class TargetSet:
    """The slots serving a deployment now, those of a staged spec, and their versions.

    A changed spec is *staged*: its new targets load while the current slots go on
    serving, and :meth:`commit` switches over in one step. Slots of targets in both specs
    are the same objects, and a version used by several targets is loaded once.
    """

    def __init__(self) -> None:
        self.slots: dict[str, TargetSlot] = {}
        self.staged: dict[str, TargetSlot] | None = None
        self.versions: dict[int, ServedVersion] = {}

    def stage(self, targets: tuple[str, ...]) -> None:
        previous = self.staged or {}
        self.staged = {t: self.slots.get(t) or previous.get(t) or TargetSlot(t) for t in targets}

    def planned(self) -> dict[str, TargetSlot]:
        """The slots to resolve and load: the staged spec's, else the current ones."""
        return self.staged if self.staged is not None else self.slots

    def serving(self, targets: tuple[str, ...], *, staged: bool = False) -> bool:
        """Whether each of ``targets`` (of the current or the staged slots) has a version."""
        slots = self.planned() if staged else self.slots
        return all(t in slots and slots[t].served is not None for t in targets)

    def commit(self) -> None:
        if self.staged is not None:
            self.slots, self.staged = self.staged, None

    def install(self, target: str, served: ServedVersion) -> None:
        self.versions[served.version] = served
        self.planned()[target].serve(served)

    def unused(self) -> list[ServedVersion]:
        """Versions no current or staged slot uses, removed from the set: to retire."""
        slots = [*self.slots.values(), *(self.staged or {}).values()]
        used = {slot.served.version for slot in slots if slot.served is not None}
        return [self.versions.pop(v) for v in [v for v in self.versions if v not in used]]

    def clear(self) -> list[ServedVersion]:
        """Every version, removed: nothing serves from now on."""
        for slot in [*self.slots.values(), *(self.staged or {}).values()]:
            slot.served = None
        return self.unused()

    def statuses(self) -> tuple[TargetStatus, ...]:
        return tuple(slot.status() for slot in self.planned().values())

    def details(self, traffic: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Per target of the planned slots: versions, state, error and whether a shadow."""
        details = {}
        for status in self.statuses():
            details[status.target] = {
                "version": status.version,
                "serving_version": status.serving_version,
                "state": status.state.value,
                "error": status.error,
                "shadow": status.target not in traffic,
            }
        return details
