"""``RayCompute``: a Ray cluster, or a local Ray started on demand.

Ray is imported here (and in the other ``_ray*`` modules of this package) only when a Ray
backend starts; nothing else in modelyard imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from modelyard.errors import ConfigError, StoreUnavailableError

__all__ = ["RayCompute", "import_ray"]

T = TypeVar("T")
R = TypeVar("R")
TASK_RETRIES = 3  # a task whose worker process died runs again, this many times


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray backend needs Ray: pip install 'modelyard[ray]'") from None
    return ray


class RayCompute:
    """Work as Ray tasks on the cluster at ``address`` (``ray://host:10001``), or on a Ray
    started here (``address`` None; ``num_cpus`` caps it). A Ray already running in this
    process (``ray.init`` by the caller) is used as it is and left running by
    :meth:`close`. ``runtime_env`` is the job's runtime environment on a cluster (the
    workspace folder as ``working_dir``: Ray Client uploads local folders only when it
    connects)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        if num_cpus is not None and num_cpus < 1:
            raise ValueError("num_cpus must be at least 1")
        self.address = address
        self.num_cpus = num_cpus
        self.runtime_env = runtime_env
        self._owned = False

    @property
    def ray(self) -> Any:
        """The started ``ray`` module."""
        self.start()
        return import_ray()

    @property
    def workers(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1)
        return max(int(cpus), 1)

    def start(self) -> None:
        ray = import_ray()
        if ray.is_initialized():
            return
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        try:
            if self.address is None:  # its own Ray, whatever `ray start` left running
                ray.init(address="local", num_cpus=self.num_cpus, **options)
            else:
                ray.init(address=self.address, runtime_env=self.runtime_env, **options)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            where = self.address or "local (ray-local)"
            raise StoreUnavailableError("Ray cluster", where, str(exc)) from None
        self._owned = True

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        ray = self.ray

        def run(item: T) -> R:  # ray.remote takes functions only, not builtins
            return fn(item)

        remote = ray.remote(max_retries=TASK_RETRIES)(run)
        results: list[R] = ray.get([remote.remote(item) for item in items])
        return results

    def close(self) -> None:
        if self._owned:
            import_ray().shutdown()
            self._owned = False

    def __repr__(self) -> str:
        return f"RayCompute(address={self.address!r}, num_cpus={self.num_cpus})"
