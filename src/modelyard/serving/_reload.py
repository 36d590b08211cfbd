"""Hot reload, step by step: what changed since the last refresh, and what to load.

:func:`poll` runs on a thread and does every query of one refresh: the revisions of all
deployments, the specs of those that are new or changed, and each model's aliases.
:func:`plan_loads` then runs on the event loop, without I/O: it resolves every target,
swaps in versions the deployment already has loaded, records targets that do not resolve,
and lists the versions to load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelyard.deployments import Deployment, DeploymentStore, TargetState
from modelyard.errors import DeploymentNotFoundError, ModelyardError, NotFoundError
from modelyard.registry import RegisteredModel
from modelyard.serving._targets import TargetSlot, resolve_target

if TYPE_CHECKING:
    from modelyard.registry import Registry
    from modelyard.serving._deployment import DeploymentRuntime

__all__ = ["Load", "Plan", "Polled", "plan_loads", "poll"]


@dataclass(frozen=True, slots=True)
class Polled:
    """What one refresh read from the metadata database."""

    revisions: dict[str, int]
    deployments: dict[str, Deployment]  # new or changed since the last refresh
    models: dict[str, RegisteredModel | ModelyardError]


def poll(
    store: DeploymentStore, registry: Registry, known: Mapping[str, int], models: set[str]
) -> Polled:
    """Blocking: the queries of one refresh. ``known`` maps running deployments to their
    revisions; ``models`` are the models they serve."""
    revisions = store.revisions()
    deployments: dict[str, Deployment] = {}
    for name, revision in revisions.items():
        if known.get(name) != revision:
            try:
                deployments[name] = store.get(name)
            except DeploymentNotFoundError:
                continue  # deleted since the revisions were read
    found: dict[str, RegisteredModel | ModelyardError] = {}
    for model in sorted(models | {d.spec.model for d in deployments.values()}):
        try:
            found[model] = registry.get_model(model)
        except NotFoundError as exc:
            found[model] = exc
    return Polled(revisions, deployments, found)


@dataclass(frozen=True, slots=True)
class Load:
    """One model version to load for one target."""

    deployment: str
    model: str
    target: str
    version: int


@dataclass(slots=True)
class Plan:
    loads: list[Load] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # deployments whose status changed
    loading: set[str] = field(default_factory=set)  # deployments with a load under way


def plan_loads(
    runtimes: Mapping[str, DeploymentRuntime],
    models: Mapping[str, RegisteredModel | ModelyardError],
) -> Plan:
    """Resolve every target; swap what needs no load; list what does."""
    plan = Plan()
    for name, runtime in runtimes.items():
        model = models.get(runtime.model)
        for target, slot in runtime.targets.planned().items():
            if model is None:
                continue  # not read in this refresh (a deployment new since the poll)
            if isinstance(model, ModelyardError):
                _unresolved(slot, model.message, name, plan)
                continue
            try:
                version = resolve_target(target, model)
            except ModelyardError as exc:
                _unresolved(slot, exc.message, name, plan)
                continue
            _plan_target(runtime, slot, version, plan)
    return plan


def _plan_target(runtime: DeploymentRuntime, slot: TargetSlot, version: int, plan: Plan) -> None:
    served = slot.served
    if served is not None and served.version == version:
        if slot.state != TargetState.SERVING or slot.version != version:
            slot.serve(served)  # back to a version it still serves
            plan.changed.add(runtime.name)
        return
    loaded = runtime.loaded(version)
    if loaded is not None:  # another target of the deployment serves it already
        runtime.install(slot.target, loaded)
        plan.changed.add(runtime.name)
        return
    if slot.wants(version):
        slot.version, slot.state, slot.error = version, TargetState.LOADING, None
        plan.loads.append(Load(runtime.name, runtime.model, slot.target, version))
        plan.loading.add(runtime.name)


def _unresolved(slot: TargetSlot, error: str, deployment: str, plan: Plan) -> None:
    if slot.state != TargetState.FAILED or slot.error != error or slot.version is not None:
        slot.fail(None, error)
        plan.changed.add(deployment)
