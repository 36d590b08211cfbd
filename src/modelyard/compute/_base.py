"""The one protocol of a compute backend: run a function over items, somewhere.

A backend is built from the ``compute`` setting by :func:`open_compute`: ``local`` runs on
processes of this machine, ``ray-local`` starts a Ray here, ``ray://host:10001`` joins a
Ray cluster. Constructors only store; :meth:`Compute.start` connects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from modelyard.errors import ConfigError

__all__ = ["Compute", "open_compute"]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Compute(Protocol):
    """Where fanned-out work runs."""

    @property
    def name(self) -> str:
        """``local`` or ``ray``."""
        ...

    @property
    def workers(self) -> int:
        """How many items run at once."""
        ...

    def start(self) -> None:
        """Connect (or start) the backend; idempotent."""
        ...

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, run in parallel, results in order. ``fn`` and
        the items travel by cloudpickle; an exception in any call is raised here."""
        ...

    def close(self) -> None:
        """Release what :meth:`start` took (a Ray this backend started is shut down)."""
        ...


def open_compute(
    spec: str = "local", *, workers: int | None = None, runtime_env: dict[str, Any] | None = None
) -> Compute:
    """The backend a ``compute`` setting names (not started); ``runtime_env`` is what a
    remote cluster's tasks run in (see :class:`RayCompute`).

    Example:
        >>> with_backend = open_compute("ray-local", workers=2)
        >>> with_backend.start(); with_backend.map(abs, [-1, 2]); with_backend.close()
        [1, 2]
    """
    if spec == "local":
        from modelyard.compute._local import LocalCompute

        return LocalCompute(workers)
    if spec == "ray-local" or spec.startswith("ray://"):
        from modelyard.compute._ray import RayCompute

        if spec == "ray-local":
            return RayCompute(None, num_cpus=workers)
        return RayCompute(spec, num_cpus=workers, runtime_env=runtime_env)
    raise ConfigError(f"unknown compute backend {spec!r}: use local, ray-local or ray://HOST:PORT")
