"""Fixtures of the data tests: a workspace tuned for small, fast pipeline runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard import Workspace
from modelyard.config import load_settings


@pytest.fixture
def data_ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on each metadata backend, with small batches and no retry pauses."""
    ws = Workspace(
        load_settings(
            tmp_path / "ws",
            metadata_url=db_url,
            data={"batch_rows": 1000, "retry_backoff_s": 0.0, "memory_limit": "512MB"},
        )
    )
    ws.start()
    yield ws
    ws.close()
