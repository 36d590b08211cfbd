"""The threads that run predicts, each limited to one OpenMP/BLAS thread.

Measured on a 2-core machine, scikit-learn tree models in a server predict far faster with
one OpenMP thread per predict thread (one-row predicts slowed 40x under load with the
default, as every predict thread spun up a full team). ``threadpool_limits(1)`` costs
milliseconds per call, so instead of wrapping each predict it is applied once per predict
thread, and again after a model load may have brought in a new native library (see
:meth:`PredictExecutor.libraries_changed`). OpenMP limits are per thread; BLAS limits are
process-wide, which suits a serving process whose parallelism is its predict threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["PredictExecutor"]

T = TypeVar("T")


class PredictExecutor:
    """A fixed pool of predict threads; :meth:`start` creates it, :meth:`shutdown` ends it."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._generation = 0
        self._local = threading.local()

    def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="modelyard-predict")

    def libraries_changed(self) -> None:
        """A model was loaded: limits are re-applied in each thread before its next predict."""
        self._generation += 1

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a predict thread."""
        if self._pool is None:
            raise RuntimeError("the predict executor is not started")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn)

    def _call(self, fn: Callable[[], T]) -> T:
        generation = self._generation
        if getattr(self._local, "generation", None) != generation:
            _limit_native_threads()
            self._local.generation = generation
        return fn()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _limit_native_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # kept: not used as a context manager, nothing is restored
