"""``LocalCompute``: processes of this machine (joblib's loky pool, cloudpickle)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["LocalCompute"]

T = TypeVar("T")
R = TypeVar("R")


class LocalCompute:
    """Runs work on ``workers`` local processes (default: the CPU count); one worker runs
    in this process, which is also what a one-item map does."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        self._workers = workers or os.cpu_count() or 1

    @property
    def workers(self) -> int:
        return self._workers

    def start(self) -> None:
        """Nothing to start: the pool is made per map."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self._workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        from joblib import Parallel, delayed

        jobs = min(self._workers, len(items))
        results: list[R] = Parallel(n_jobs=jobs, backend="loky")(delayed(fn)(i) for i in items)
        return results

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"LocalCompute(workers={self._workers})"
