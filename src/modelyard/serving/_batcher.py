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
offsets. A failing predict fails only the requests of its batch; the batcher goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from modelyard.errors import FlavorError, ModelyardError, OverloadedError
from modelyard.serving._executor import PredictExecutor
from modelyard.serving._observer import BatcherStats, ServingObserver
from modelyard.serving._types import InputBatch

__all__ = ["BatchLimits", "Batcher", "PredictFn", "merge_batches"]

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
            FlavorError: the model failed on the batch this request was part of.
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
        rows = sum(pending.batch.n_rows for pending in taken)
        started = time.perf_counter()
        self._busy = True
        try:
            merged = merge_batches([pending.batch for pending in taken])
            outputs = await self._executor.run(partial(self._predict, merged))
            _check_rows(outputs, rows)
        except Exception as exc:
            _fail(taken, partial(self._failure, exc))
            return
        except BaseException:  # cancelled: the loop is going away
            _fail(taken, self._shutting_down)
            raise
        finally:
            self._busy = False
        elapsed = time.perf_counter() - started
        self._row_seconds = 0.8 * self._row_seconds + 0.2 * elapsed / rows
        self._expect_company = len(taken) > 1 or bool(self._queue)
        _deliver(taken, outputs)
        self._observer.batch(self.deployment, self.version, len(taken), rows, elapsed)

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


def _check_rows(outputs: np.ndarray, rows: int) -> None:
    if not isinstance(outputs, np.ndarray) or outputs.ndim == 0 or outputs.shape[0] != rows:
        shape = list(np.shape(outputs))
        raise FlavorError(
            f"the model returned outputs of shape {shape} for {rows} input rows",
            details={"rows": rows, "shape": shape},
        )


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
