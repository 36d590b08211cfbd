"""Fixtures of the dashboard tests: one quickstart workspace for the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.kit import build_workspace


@pytest.fixture(scope="session")
def quickstart_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace after the quickstart, with a challenger version and a second dataset
    version (see :func:`dashboard.kit.build_workspace`). Tests only read it."""
    return build_workspace(tmp_path_factory.mktemp("dashboard") / "ws")
