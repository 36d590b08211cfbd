"""Adaptive batching: concurrent requests to one model version merged into one predict.

One :class:`Batcher` per loaded model version. Requests queue on the event loop; a single
dispatcher task runs one predict at a time on the predict threads:

- while a predict runs, arrivals accumulate; when it returns, everything queued goes at
  once, up to ``max_batch_size`` rows (a request larger than that runs alone);
- with an idle model, the first arrival waits at most ``max_wait_ms`` for company. The wait
  is skipped when the last batch showed no concurrency (one request, nothing queued behind
  it): a lone sequential caller would otherwise pay ``max_wait_ms`` on every call for nothing;
- the queue is bounded: when queued rows plus a request's rows exceed ``max_queue_rows``
  the request is refused at once with :class:`~modelyard.errors.OverloadedError`.

Columns are merged with one ``np.concatenate`` per column and the output split back by row
offsets. When a merged batch fails, each of its requests is tried again in a predict of its
own, so one request the model refuses fails alone instead of poisoning its batch (the cost,
one predict per request, is paid only for batches that fail). Outputs without one row per
input row are a :class:`~modelyard.errors.ModelOutputError` (a bug in the model). The
batcher goes on after any failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from modelyard.errors import FlavorError, ModelOutputError, ModelyardError, OverloadedError
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._observer import BatcherStats, ServingObserver
from modelyard.serving._types import InputBatch

__all__ = ["BatchLimits", "Batcher", "PredictFn", "merge_batches"]

log = logging.getLogger(__name__)

PredictFn = Callable[[InputBatch], np.ndarray]
"""Runs on a predict thread: the model's outputs for a merged batch, first dim = its rows."""


class BatchLimits(Protocol):
    """What a deployment's ``batching`` options give (``BatchingOptions``)."""

    @property
    def max_batch_size(self) -> int: ...
    @property
    def max_wait_ms(self) -> float: ...
    @property
    def max_queue_rows(self) -> int: ...


@dataclass(slots=True)
class _Pending:
    batch: InputBatch
    layout: Hashable
    future: asyncio.Future[np.ndarray]
    arrived: float


class Batcher:
    """Merges concurrent requests for one model version; see the module docstring."""

    def __init__(
        self,
        predict: PredictFn,
        executor: PredictExecutor,
        limits: BatchLimits,
        *,
        deployment: str,
        version: int,
        observer: ServingObserver | None = None,
    ) -> None:
        self.limits = limits
        self.deployment = deployment
        self.version = version
        self._predict = predict
        self._executor = executor
        self._observer = observer or ServingObserver()
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._busy = False
        self._expect_company = False
        self._row_seconds = 1e-4  # moving average, for Retry-After

    # -- callers ----------------------------------------------------------------------------

    async def submit(self, batch: InputBatch) -> np.ndarray:
        """The outputs for ``batch``'s rows, computed in a merged batch.

        Raises:
            OverloadedError: the queue is full.
            FlavorError: the model failed on this request's rows.
            ModelOutputError: the model's outputs do not have one row per input row.
        """
        if self._closing:
            raise self._shutting_down()
        limit = self.limits.max_queue_rows
        if self._queued_rows + batch.n_rows > limit:
            self._observer.overloaded(self.deployment, self.version)
            raise self._overloaded(batch.n_rows, limit)
        loop = asyncio.get_running_loop()
        pending = _Pending(batch, _layout(batch), loop.create_future(), time.perf_counter())
        self._queue.append(pending)
        self._queued_rows += batch.n_rows
        self._wakeup.set()
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"batcher-{self.deployment}")
        return await pending.future

    def _overloaded(self, rows: int, limit: int) -> OverloadedError:
        wait = min(max(self._queued_rows * self._row_seconds, 0.01), 10.0)
        return OverloadedError(
            f"deployment {self.deployment!r} (version {self.version}) has {self._queued_rows} "
            f"rows queued; {rows} more would pass its limit of {limit}; retry after {wait:.2f}s",
            retry_after=round(wait, 3),
        )

    def stats(self) -> BatcherStats:
        return BatcherStats(
            self.deployment, self.version, self._queued_rows, len(self._queue), self._busy
        )

    async def close(self) -> None:
        """Finish every queued request, then stop; ``submit`` is refused from now on."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    # -- dispatcher -------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    if self._expect_company:
                        await self._gather_company()
                taken = self._take()
                if taken:
                    await self._dispatch(taken)
        finally:  # only when cancelled can requests be left
            _fail(list(self._queue), self._shutting_down)
            self._queue.clear()
            self._queued_rows = 0

    async def _gather_company(self) -> None:
        if not self._queue:
            return
        deadline = self._queue[0].arrived + self.limits.max_wait_ms / 1000.0
        while self._queued_rows < self.limits.max_batch_size and not self._closing:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Pending]:
        """The head of the queue, up to ``max_batch_size`` rows of one layout."""
        taken: list[_Pending] = []
        rows = 0
        limit = self.limits.max_batch_size
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # the caller gave up while it waited
                self._queue.popleft()
                self._queued_rows -= head.batch.n_rows
                continue
            if taken and (rows + head.batch.n_rows > limit or head.layout != taken[0].layout):
                break
            self._queue.popleft()
            self._queued_rows -= head.batch.n_rows
            taken.append(head)
            rows += head.batch.n_rows
        return taken

    async def _dispatch(self, taken: list[_Pending]) -> None:
        self._busy = True
        try:
            if not await self._together(taken) and len(taken) > 1:
                await self._one_by_one(taken)
        except BaseException:  # cancelled: the loop is going away
            _fail(taken, self._shutting_down)
            raise
        finally:
            self._busy = False
        self._expect_company = len(taken) > 1 or bool(self._queue)

    async def _together(self, taken: list[_Pending]) -> bool:
        """One predict for every request of ``taken``; whether it succeeded. A lone
        request's failure is its answer; a merged batch's is retried by the caller."""
        try:
            merged = merge_batches([pending.batch for pending in taken])
            outputs = await self._compute(merged, taken)
        except Exception as exc:
            if len(taken) == 1:
                _fail(taken, partial(self._failure, exc))
            else:
                log.debug(
                    "a batch of %d requests to version %d of %s failed (%s); retrying each "
                    "on its own",
                    len(taken),
                    self.version,
                    self.deployment,
                    exc,
                )
            return False
        _deliver(taken, outputs)
        return True

    async def _one_by_one(self, taken: list[_Pending]) -> None:
        """After a merged batch failed: each request in its own predict, so a request the
        model refuses (NaN where it takes none, say) fails alone, not its whole batch."""
        for pending in taken:
            if pending.future.done():  # the caller gave up meanwhile
                continue
            try:
                outputs = await self._compute(pending.batch, [pending])
            except Exception as exc:
                _fail([pending], partial(self._failure, exc))
                continue
            _deliver([pending], outputs)

    async def _compute(self, batch: InputBatch, taken: list[_Pending]) -> np.ndarray:
        """The model's outputs for ``batch`` (the rows of ``taken``), checked and timed."""
        started = time.perf_counter()
        outputs = await self._executor.run(partial(self._predict, batch))
        self._check_rows(outputs, batch.n_rows)
        elapsed = time.perf_counter() - started
        self._row_seconds = 0.8 * self._row_seconds + 0.2 * elapsed / batch.n_rows
        self._observer.batch(self.deployment, self.version, len(taken), batch.n_rows, elapsed)
        return outputs

    def _check_rows(self, outputs: np.ndarray, rows: int) -> None:
        if not isinstance(outputs, np.ndarray) or outputs.ndim == 0 or outputs.shape[0] != rows:
            shape = [int(dim) for dim in np.shape(outputs)]
            raise ModelOutputError(self.deployment, self.version, rows, shape)

    def _shutting_down(self) -> Exception:
        return OverloadedError(
            f"deployment {self.deployment!r} is shutting down; retry on another replica",
            retry_after=1.0,
        )

    def _failure(self, exc: Exception) -> Exception:
        if isinstance(exc, ModelyardError):
            return exc
        return FlavorError(
            f"model version {self.version} of deployment {self.deployment!r} failed to "
            f"predict: {type(exc).__name__}: {exc}",
            details={"deployment": self.deployment, "version": self.version},
        )


def merge_batches(batches: Sequence[InputBatch]) -> InputBatch:
    """One batch holding every row of ``batches`` (of one layout), in order."""
    if len(batches) == 1:
        return batches[0]
    rows = sum(batch.n_rows for batch in batches)
    first = batches[0]
    if first.tensor is not None:
        tensors = [batch.tensor for batch in batches if batch.tensor is not None]
        return InputBatch(n_rows=rows, tensor=np.concatenate(tensors))
    assert first.columns is not None
    columns = {
        name: np.concatenate([batch.columns[name] for batch in batches if batch.columns])
        for name in first.columns
    }
    return InputBatch(n_rows=rows, columns=columns)


def _layout(batch: InputBatch) -> Hashable:
    if batch.tensor is not None:
        return ("tensor", batch.tensor.shape[1:])
    return ("columns", tuple(batch.columns or ()))


def _fail(pendings: list[_Pending], error: Callable[[], Exception]) -> None:
    for pending in pendings:
        if not pending.future.done():
            pending.future.set_exception(error())


def _deliver(taken: list[_Pending], outputs: np.ndarray) -> None:
    if len(taken) == 1:
        if not taken[0].future.done():
            taken[0].future.set_result(outputs)
        return
    start = 0
    for pending in taken:
        end = start + pending.batch.n_rows
        if not pending.future.done():
            pending.future.set_result(outputs[start:end])
        start = end
