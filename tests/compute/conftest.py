"""One local Ray (2 CPUs) for every Ray test of the session: starting one costs about ten
seconds here, so it is started once, on first use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import _truncate, service_missing


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """The ``ray`` module, initialized with a 2-CPU local cluster (shut down at the end)."""
    try:
        import ray
    except ImportError as exc:
        service_missing(f"Ray is not installed: {exc}")
    ray.init(
        address="local",  # a new one, even where `ray start` left a cluster address
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def postgres_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied: a worker draining the queue, or a server
    checking that every deployment is ready, must not meet what an earlier test left."""
    _truncate(postgres_url)
    return postgres_url
