"""One deployment in a running server: routing, cache, batching, logging, shadows.

:meth:`DeploymentRuntime.predict` routes the whole request to one traffic target, takes the
version serving it (so a hot reload in the middle changes nothing for this request), asks
the cache for the rows it already knows, sends the rest through the version's batcher,
writes the request to the prediction log, and only then answers. A request pinned to a
version (V2's ``/versions/{v}/infer``) goes to a target serving that version instead. Shadow
targets get a copy in a background task; their answers are logged with ``shadow=true`` and
their failures never reach the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard._ids import now_ms, time_id
from modelyard.deployments import Deployment, DeploymentSpec, DeploymentStatus, StickyKey
from modelyard.errors import (
    FlavorError,
    ModelOutputError,
    ModelyardError,
    OverloadedError,
    StoreUnavailableError,
    VersionNotServedError,
)
from modelyard.registry import LoadedModel, Signature
from modelyard.serving._cache import LocalCache, PredictionCache, RedisCache
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._failures import FailureCounts
from modelyard.serving._feature_inputs import FeatureInputs
from modelyard.serving._observer import BatcherStats, CacheStats, ServingObserver
from modelyard.serving._predlog import LogEntry, PredictionLog, encode_record
from modelyard.serving._router import Router
from modelyard.serving._served import ServedVersion
from modelyard.serving._targets import TargetSet
from modelyard.serving._types import InputBatch, PredictionResult
from modelyard.serving._validate import validate_batch

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from modelyard.features import FeatureStore

__all__ = ["DeploymentRuntime", "RuntimeContext"]

log = logging.getLogger(__name__)

_MAX_SHADOW_TASKS = 1024


@dataclass(frozen=True, slots=True)
class RuntimeContext:
    """What every deployment of one server shares."""

    server_id: str
    executor: PredictExecutor
    log: PredictionLog
    observer: ServingObserver
    redis: Redis | None = None
    retry_after_s: float = 1.0
    features: FeatureStore | None = None
    failures: FailureCounts = field(default_factory=FailureCounts)


class DeploymentRuntime:
    """A deployment as the server runs it; built by :class:`ServingState`."""

    def __init__(self, deployment: Deployment, context: RuntimeContext) -> None:
        self._ctx = context
        self.targets = TargetSet()
        self._staged: Deployment | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.cache: PredictionCache | None = None
        self.inputs: FeatureInputs | None = None
        self.stage(deployment)
        self.commit(force=True)

    # -- the API the HTTP layer calls -------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def sticky_key(self) -> StickyKey | None:
        """Where the HTTP layer reads the sticky value (a header), if the spec has one."""
        return self.spec.sticky

    def signature(self) -> Signature | None:
        """What requests carry: the signature of the primary target's serving version (the
        heaviest route's; another traffic target's while it has none), or, with a feature
        service, its join keys and request fields and the model inputs no feature gives."""
        model = self.model_signature()
        return model if self.inputs is None else self.inputs.request_signature(model)

    def model_signature(self) -> Signature | None:
        """The signature of the model version that answers by default."""
        slots = self.targets.slots
        served = slots[self.router.primary].served
        if served is not None:
            return served.signature
        for target in self.router.targets:
            served = slots[target].served
            if served is not None:
                return served.signature
        return None

    def validate(self, batch: InputBatch) -> InputBatch:
        """``batch`` checked against the signature and cast to its dtypes; see
        :func:`~modelyard.serving._validate.validate_batch`. Raises ValidationError."""
        return validate_batch(batch, self.signature())

    def versions(self) -> dict[str, int]:
        """Target -> the version serving it now."""
        slots = self.targets.slots.items()
        return {t: s.served.version for t, s in slots if s.served is not None}

    async def predict(
        self, batch: InputBatch, *, sticky: str | None = None, version: int | None = None
    ) -> PredictionResult:
        """The outputs for ``batch``, computed by one traffic target's serving version and
        logged before they are returned. With ``version``, by that version: the request
        goes to a target serving it now (a traffic target's if one does, else a shadow's).

        Raises:
            ValidationError: the batch does not fit the chosen version's signature.
            VersionNotServedError: no target serves ``version`` now.
            OverloadedError: the batcher's queue is full, or no version serves yet.
            FlavorError: the model failed on the batch.
            ModelOutputError: the model's outputs do not have one row per input row.

        A model failure of a target other than the primary (a canary's challenger, say)
        is counted against that target, and the request is answered by the primary's
        version instead: a failing challenger never fails a caller. A request pinned to a
        version is not moved.
        """
        started = time.perf_counter()
        try:
            target, served = self._route(batch, sticky, version)
        except ModelyardError as exc:
            self._ctx.observer.failure(self.name, "", exc.code, shadow=False)
            self._ctx.failures.add(self.name, "", exc.code)
            raise
        try:
            batch, outputs, hits = await self._answer(target, served, batch)
        except (FlavorError, ModelOutputError) as exc:
            backup = self._backup(target) if version is None else None
            if backup is None:
                raise
            log.info("%s of %s failed; %s answers: %s", target, self.name, backup[0], exc)
            target, served = backup
            batch, outputs, hits = await self._answer(target, served, batch)
        request_id = time_id()  # time-ordered: an id tells when it was logged
        ids = prediction_ids(request_id, batch.n_rows)
        await self._log(request_id, ids, target, served, batch, outputs, hits, started)
        self._mirror(request_id, ids, batch, answered=target)
        return PredictionResult(
            outputs=outputs,
            prediction_ids=ids,
            model=self.model,
            version=served.version,
            target=target,
            cache_hits=int(hits.sum()) if hits is not None else 0,
        )

    # -- one request ------------------------------------------------------------------------

    async def _answer(
        self, target: str, served: ServedVersion, batch: InputBatch
    ) -> tuple[InputBatch, np.ndarray, np.ndarray | None]:
        """``served`` predicts ``batch`` (released after); the batch to log (with a feature
        service: the entities and every feature value the model was given), the outputs
        and the cache hits. A failure is counted against ``target``."""
        try:
            if self.inputs is not None:  # the request names entities; add their features
                batch = await self.inputs.enrich(batch, served.signature)
            logged = batch
            batch = validate_batch(batch, served.signature)
            if self.cache is None:
                outputs, hits = await served.batcher.submit(batch), None
            else:
                outputs, hits = await self._compute(served, batch, use_cache=True)
        except ModelyardError as exc:
            self._ctx.observer.failure(self.name, target, exc.code, shadow=False)
            self._ctx.failures.add(self.name, target, exc.code)
            raise
        finally:
            served.release()
        return (logged if self.inputs is not None else batch), outputs, hits

    def _backup(self, failed: str) -> tuple[str, ServedVersion] | None:
        """The primary target and its version (acquired), to answer for ``failed``; None
        when ``failed`` is the primary or the primary serves nothing."""
        primary = self.router.primary
        slot = self.targets.slots.get(primary)
        if failed == primary or slot is None or slot.served is None:
            return None
        return primary, slot.served.acquire()

    def _route(
        self, batch: InputBatch, sticky: str | None, version: int | None
    ) -> tuple[str, ServedVersion]:
        key = sticky if sticky is not None else self._sticky_field(batch)
        if version is not None:
            return self._pinned(version, key)
        slots = self.targets.slots
        target = self.router.choose(key)
        served = slots[target].served
        if served is None:
            live = [t for t in self.router.targets if slots[t].served is not None]
            fallback = self.router.choose_among(live, key)
            if fallback is None:
                raise self._not_serving()
            target, served = fallback, slots[fallback].served
            assert served is not None
        return target, served.acquire()

    def _pinned(self, version: int, key: str | None) -> tuple[str, ServedVersion]:
        """A target serving ``version`` now: among traffic targets by weight, else the
        first shadow that serves it."""
        serving = [
            t for t, s in self.targets.slots.items() if s.served and s.served.version == version
        ]
        if not serving:
            raise VersionNotServedError(self.name, version, sorted(set(self.versions().values())))
        target = self.router.choose_among(serving, key) or serving[0]
        served = self.targets.slots[target].served
        assert served is not None
        return target, served.acquire()

    def _sticky_field(self, batch: InputBatch) -> str | None:
        sticky = self.spec.sticky
        if sticky is None or sticky.source != "field" or batch.columns is None:
            return None
        values = batch.columns.get(sticky.name)
        return None if values is None or len(values) == 0 else str(values[0])

    def _not_serving(self) -> OverloadedError:
        states = "; ".join(
            f"{t}: {s.state.value}" + (f" ({s.error})" if s.error else "")
            for t, s in self.targets.slots.items()
        )
        return OverloadedError(
            f"deployment {self.name!r} has no model version serving yet ({states})",
            retry_after=self._ctx.retry_after_s,
        )

    async def _compute(
        self, served: ServedVersion, batch: InputBatch, *, use_cache: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        cache = self.cache if use_cache else None
        if cache is None:
            return await served.batcher.submit(batch), None
        lookup = await cache.lookup(served.digest, batch)
        computed = None if lookup.misses is None else await served.batcher.submit(lookup.misses)
        return await cache.complete(lookup, computed), lookup.hit_mask

    async def _log(
        self,
        request_id: str,
        ids: list[str],
        target: str,
        served: ServedVersion,
        batch: InputBatch,
        outputs: np.ndarray,
        hits: np.ndarray | None,
        started: float,
        *,
        shadow: bool = False,
    ) -> None:
        elapsed = time.perf_counter() - started
        entry = LogEntry(
            request_id=request_id,
            ids=ids,
            timestamp_ms=now_ms(),
            deployment=self.name,
            model=self.model,
            version=served.version,
            target=target,
            shadow=shadow,
            latency_ms=round(elapsed * 1000.0, 3),
            server_id=self._ctx.server_id,
            batch=batch,
            outputs=outputs,
            cache_hits=hits,
        )
        line = encode_record(entry)
        try:
            if self._ctx.log.fsync:
                await asyncio.to_thread(self._ctx.log.append, line, batch.n_rows)
            else:
                self._ctx.log.append(line, batch.n_rows)
        except OSError as exc:  # not logged means not answered
            raise StoreUnavailableError(
                "prediction log", str(self._ctx.log.root), str(exc)
            ) from exc
        self._ctx.observer.prediction(
            self.name, target, served.version, batch.n_rows, elapsed, shadow=shadow
        )

    # -- shadows ----------------------------------------------------------------------------

    def _mirror(self, request_id: str, ids: list[str], batch: InputBatch, answered: str) -> None:
        for target in self.spec.shadow:
            slot = self.targets.slots.get(target)
            if target == answered or slot is None or slot.served is None:
                continue  # a request pinned to a shadow's version is not mirrored to it
            if len(self._background) >= _MAX_SHADOW_TASKS:
                self._ctx.observer.failure(self.name, target, "overloaded", shadow=True)
                continue
            served = slot.served.acquire()
            self._spawn(self._shadow(target, served, request_id, ids, batch))

    async def _shadow(
        self,
        target: str,
        served: ServedVersion,
        request_id: str,
        ids: list[str],
        batch: InputBatch,
    ) -> None:
        """A mirrored request: same rows and prediction ids, answer logged as a shadow."""
        started = time.perf_counter()
        try:
            batch = validate_batch(batch, served.signature)
            outputs, _ = await self._compute(served, batch, use_cache=False)
            await self._log(
                request_id, ids, target, served, batch, outputs, None, started, shadow=True
            )
        except Exception as exc:
            code = exc.code if isinstance(exc, ModelyardError) else type(exc).__name__
            log.info("shadow %s of deployment %s failed: %s", target, self.name, exc)
            self._ctx.observer.failure(self.name, target, code, shadow=True)
        finally:
            served.release()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- managed by ServingState ------------------------------------------------------------

    def stage(self, deployment: Deployment) -> None:
        """Prepare a revision of the spec; :meth:`commit` applies it once its traffic
        targets have versions, so a spec change never leaves a moment with none."""
        self._staged = deployment
        self.targets.stage(deployment.spec.targets)

    @property
    def latest_revision(self) -> int:
        """The revision staged or, with none staged, applied."""
        return self._staged.revision if self._staged is not None else self.revision

    def commit(self, *, force: bool = False) -> bool:
        """Apply the staged spec (routes, targets, batching, cache) if each of its traffic
        targets has a version serving, or if nothing serves now anyway; whether it did."""
        staged = self._staged
        if staged is None:
            return False
        routes = tuple(route.target for route in staged.spec.traffic)
        if not (force or not self.ready or self.targets.serving(routes, staged=True)):
            return False  # the current spec goes on serving; statuses show what is missing
        old: DeploymentSpec | None = getattr(self, "spec", None)
        self.spec, self.revision, self._staged = staged.spec, staged.revision, None
        self.router = Router([(route.target, route.weight) for route in self.spec.traffic])
        self.targets.commit()
        for served in self.targets.versions.values():
            served.batcher.limits = self.spec.batching
        if old is None or old.cache != self.spec.cache:
            self.cache = self._make_cache(self.spec)
        if old is None or old.feature_service != self.spec.feature_service:
            self.inputs = self._make_inputs(self.spec)
        self._retire(self.targets.unused())
        return True

    def _make_inputs(self, spec: DeploymentSpec) -> FeatureInputs | None:
        if spec.feature_service is None:
            return None
        if self._ctx.features is None:
            log.warning(
                "deployment %s declares feature service %s, but the server has no feature "
                "store: requests must carry the model inputs",
                spec.name,
                spec.feature_service,
            )
            return None
        return FeatureInputs(self._ctx.features, spec.feature_service)

    def _make_cache(self, spec: DeploymentSpec) -> PredictionCache | None:
        options = spec.cache
        if not options.enabled:
            return None
        if self._ctx.redis is not None:
            backend: LocalCache | RedisCache = RedisCache(self._ctx.redis, ttl_s=options.ttl_s)
        else:
            backend = LocalCache(max_entries=options.max_entries, ttl_s=options.ttl_s)
        return PredictionCache(spec.name, backend, self._ctx.observer)

    def loaded(self, version: int) -> ServedVersion | None:
        """The version if some target of this deployment already serves it."""
        return self.targets.versions.get(version)

    def install(self, target: str, model: LoadedModel | ServedVersion) -> None:
        """Make ``model`` serve ``target`` from the next request on (an atomic swap)."""
        served = model if isinstance(model, ServedVersion) else self.loaded(model.version)
        if served is None:
            assert isinstance(model, LoadedModel)
            limits = (self._staged or self).spec.batching
            served = ServedVersion(
                model, self._ctx.executor, limits, deployment=self.name, observer=self._ctx.observer
            )
        self.targets.install(target, served)
        self._retire(self.targets.unused())

    def _retire(self, versions: list[ServedVersion]) -> None:
        for served in versions:
            self._spawn(served.retire())

    @property
    def ready(self) -> bool:
        """Every traffic target has a version serving it."""
        return self.targets.serving(self.router.targets)

    def status(self) -> DeploymentStatus:
        """What this server serves, for the deployment store (a staged spec's targets)."""
        return DeploymentStatus(
            deployment=self.name,
            server_id=self._ctx.server_id,
            ready=self.ready,
            targets=self.targets.statuses(),
            updated_at=now_ms(),
        )

    def details(self) -> dict[str, Any]:
        """What readiness reports about this deployment."""
        spec = (self._staged or self).spec
        traffic = tuple(route.target for route in spec.traffic)
        return {
            "ready": self.ready,
            "revision": self.revision,
            "pending_revision": self._staged.revision if self._staged else None,
            "model": self.model,
            "targets": self.targets.details(traffic),
        }

    def batcher_stats(self) -> list[BatcherStats]:
        return [served.batcher.stats() for served in self.targets.versions.values()]

    def cache_stats(self) -> CacheStats | None:
        return self.cache.stats() if self.cache is not None else None

    async def close(self) -> None:
        """Finish shadows and in-flight requests, then close every batcher."""
        self._retire(self.targets.clear())
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


_row_numbers = np.arange(0).astype(str)


def prediction_ids(request_id: str, rows: int) -> list[str]:
    """``<request id>-<row>`` for each row, built without a Python loop per row."""
    global _row_numbers
    if rows == 1:
        return [f"{request_id}-0"]
    if rows > len(_row_numbers):
        _row_numbers = np.arange(max(rows, 2 * len(_row_numbers), 1024)).astype(str)
    ids: list[str] = np.strings.add(f"{request_id}-", _row_numbers[:rows]).tolist()
    return ids
