"""The serving runtime of one server process: every deployment, kept up to date.

:class:`ServingState` loads every deployment at :meth:`~ServingState.start`, then re-reads,
every ``serving.refresh_interval_s``, the deployments' revisions and the aliases of their
models (small queries, on a thread so the event loop never blocks). A changed spec is
applied; a target that resolves to another version gets it loaded on a thread (the
registry verifies its sha256) and swapped in atomically. A version that fails to load is
recorded (state ``failed`` with the error) while the previous one goes on serving. What
each deployment serves is reported to the deployment store after every change, and at
least every few seconds as a heartbeat.

Example:
    >>> state = ServingState(workspace)
    >>> await state.start()
    >>> runtime = state.deployment("fraud")
    >>> result = await runtime.predict(batch)  # validated against the answering version
    >>> await state.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from modelyard.deployments import Deployment
from modelyard.errors import DeploymentNotFoundError, ModelyardError
from modelyard.registry import LoadedModel
from modelyard.serving._deployment import DeploymentRuntime, RuntimeContext
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._observer import ServingObserver, ServingStats, guarded
from modelyard.serving._predlog import PredictionLog
from modelyard.serving._reload import Plan, plan_loads, poll

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from modelyard._workspace import Workspace

__all__ = ["DeploymentRuntime", "ServingState"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 15.0


class ServingState:
    """Every deployment of one server process; see the module docstring."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        server_id: str | None = None,
        observer: ServingObserver | None = None,
    ) -> None:
        self.workspace = workspace
        self.settings = workspace.settings.serving
        self.server_id = server_id or f"{socket.gethostname()}-{os.getpid()}"
        self.observer = guarded(observer or ServingObserver())
        self._runtimes: dict[str, DeploymentRuntime] = {}
        self._context: RuntimeContext | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._reported: dict[str, float] = {}
        self._refreshing = asyncio.Lock()
        self.load_failures = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load every deployment (a version that fails is recorded, not raised), then start
        the refresh loop and the prediction log."""
        predlog = PredictionLog(
            self.workspace.settings.resolved_predictions_dir(),
            self.server_id,
            segment_rows=self.settings.segment_rows,
            segment_seconds=self.settings.segment_seconds,
            fsync=self.settings.log_fsync,
        )
        await asyncio.to_thread(predlog.start)  # recovers what a killed process left
        executor = PredictExecutor(self.settings.predict_threads)
        executor.start()
        self._context = RuntimeContext(
            server_id=self.server_id,
            executor=executor,
            log=predlog,
            observer=self.observer,
            redis=_redis(self.settings.cache_url),
            retry_after_s=self.settings.refresh_interval_s,
            features=self.workspace.features,
        )
        try:
            await self.refresh()
        except BaseException:  # e.g. the metadata database is unreachable
            await self.stop()
            raise
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        """Stop refreshing, finish queued and shadow requests, roll the log to Parquet."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        runtimes, self._runtimes = list(self._runtimes.values()), {}
        await asyncio.gather(*(runtime.close() for runtime in runtimes), *self._closing)
        await self._flush_failures()
        ctx, self._context = self._context, None
        if ctx is not None:
            await asyncio.to_thread(ctx.log.stop)
            await asyncio.to_thread(ctx.executor.shutdown)
            if ctx.redis is not None:
                await ctx.redis.aclose()

    # -- the API the HTTP layer calls -------------------------------------------------------

    def deployment(self, name: str) -> DeploymentRuntime:
        """The running deployment ``name``; DeploymentNotFoundError names the known ones."""
        runtime = self._runtimes.get(name)
        if runtime is None:
            raise DeploymentNotFoundError(name, self.names())
        return runtime

    def names(self) -> list[str]:
        return sorted(self._runtimes)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when every deployment has a version serving each of its traffic targets.

        The details are ``{"deployments": {name: {"ready", "revision", "model", "targets":
        {target: {"version", "serving_version", "state", "error", "shadow"}}}}}``.
        """
        details = {name: runtime.details() for name, runtime in sorted(self._runtimes.items())}
        ready = self._context is not None and all(r.ready for r in self._runtimes.values())
        return ready, {"deployments": details}

    def stats(self) -> ServingStats:
        """Levels and running totals for metrics (cheap: no I/O)."""
        runtimes = list(self._runtimes.values())
        caches = [r.cache_stats() for r in runtimes]
        return ServingStats(
            batchers=tuple(b for r in runtimes for b in r.batcher_stats()),
            caches=tuple(c for c in caches if c is not None),
            load_failures=self.load_failures,
        )

    # -- refreshing -------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception:  # a database outage must not end the loop
                log.exception("refreshing deployments failed; retrying")
            await self._flush_failures()

    async def _flush_failures(self) -> None:
        """Write the failed requests counted since the last flush (kept on failure)."""
        ctx = self._context
        if ctx is None:
            return
        counts = ctx.failures.drain()
        if not counts:
            return
        try:
            await asyncio.to_thread(self.workspace.monitoring.record_errors, self.server_id, counts)
        except Exception:
            ctx.failures.restore(counts)
            log.warning("writing %d failure counts failed; kept for the next try", len(counts))

    async def refresh(self) -> None:
        """One refresh: apply new, changed and deleted deployments, load versions that
        targets now resolve to, report statuses. A new deployment is published once its
        first loads are done, so it never answers "nothing serving yet" for a moment."""
        async with self._refreshing:  # the loop's and any caller's refreshes take turns
            await self._refresh()

    async def _refresh(self) -> None:
        known = {name: runtime.latest_revision for name, runtime in self._runtimes.items()}
        polled = await asyncio.to_thread(
            poll, self.workspace.deployments, self.workspace.registry, known, self._models()
        )
        staged = self._apply(polled.revisions, polled.deployments)
        runtimes = {**self._runtimes, **staged}
        plan = plan_loads(runtimes, polled.models)
        changed = plan.changed | set(polled.deployments)
        if plan.loads:
            await self._report(plan.loading - set(staged), runtimes)
            changed |= await self._load(plan, runtimes)
        changed |= {name for name, runtime in runtimes.items() if runtime.commit()}
        self._runtimes.update(staged)
        now = time.monotonic()
        stale = {n for n in self._runtimes if now - self._reported.get(n, 0.0) >= _HEARTBEAT_S}
        await self._report(changed | stale, self._runtimes)

    def _models(self) -> set[str]:
        return {runtime.model for runtime in self._runtimes.values()}

    def _apply(
        self, revisions: dict[str, int], deployments: dict[str, Deployment]
    ) -> dict[str, DeploymentRuntime]:
        """Drop deleted deployments, apply changed specs; the new ones, not yet published."""
        assert self._context is not None
        for name in set(self._runtimes) - set(revisions):
            self._spawn_close(self._runtimes.pop(name))
            self._reported.pop(name, None)
        staged = {}
        for name, deployment in deployments.items():
            runtime = self._runtimes.get(name)
            if runtime is None:
                staged[name] = DeploymentRuntime(deployment, self._context)
            else:
                runtime.stage(deployment)
        return staged

    async def _load(self, plan: Plan, runtimes: dict[str, DeploymentRuntime]) -> set[str]:
        """Load each planned (model, version) once, on threads; install or record failures."""
        registry = self.workspace.registry
        keys = sorted({(load.model, load.version) for load in plan.loads})
        results = await asyncio.gather(
            *(asyncio.to_thread(registry.load, f"models:/{m}/{v}") for m, v in keys),
            return_exceptions=True,
        )
        loaded: dict[tuple[str, int], LoadedModel | BaseException] = dict(
            zip(keys, results, strict=True)
        )
        assert self._context is not None
        self._context.executor.libraries_changed()
        changed = set()
        for load in plan.loads:
            runtime = runtimes.get(load.deployment)
            if runtime is None or load.target not in runtime.targets.planned():
                continue  # deleted or changed while loading
            result = loaded[(load.model, load.version)]
            changed.add(load.deployment)
            self._install(runtime, load.target, load.version, result)
        return changed

    def _install(
        self,
        runtime: DeploymentRuntime,
        target: str,
        version: int,
        result: LoadedModel | BaseException,
    ) -> None:
        if isinstance(result, LoadedModel):
            runtime.install(target, result)
            self.observer.load(runtime.name, target, version, ok=True)
            return
        if not isinstance(result, Exception):
            raise result
        message = result.message if isinstance(result, ModelyardError) else repr(result)
        log.error(
            "deployment %s: version %d of %s failed to load: %s",
            runtime.name,
            version,
            target,
            message,
        )
        runtime.targets.planned()[target].fail(version, message)
        self.load_failures += 1
        self.observer.load(runtime.name, target, version, ok=False)

    async def _report(self, names: set[str], runtimes: dict[str, DeploymentRuntime]) -> None:
        statuses = [runtimes[n].status() for n in sorted(names) if n in runtimes]
        if not statuses:
            return
        store = self.workspace.deployments

        def report() -> None:
            for status in statuses:
                try:
                    store.report_status(status)
                except DeploymentNotFoundError:
                    pass  # deleted meanwhile; the next refresh drops it
                except Exception:
                    log.exception("reporting the status of %s failed", status.deployment)

        await asyncio.to_thread(report)
        now = time.monotonic()
        self._reported.update({status.deployment: now for status in statuses})

    def _spawn_close(self, runtime: DeploymentRuntime) -> None:
        task = asyncio.get_running_loop().create_task(runtime.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _redis(url: str) -> Redis | None:
    if not url:
        return None
    from redis.asyncio import Redis

    # bounded waits: a stalled Redis turns into cache misses, not stalled predictions
    return Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
