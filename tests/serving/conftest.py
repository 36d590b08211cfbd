"""Fixtures the in-process HTTP tests share: a fake runtime and a client for the app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelyard.config import ServingSettings
from modelyard.serving import create_app
from serving.http_fakes import AppClient, FakeState, fake_state


@pytest.fixture
def state() -> FakeState:
    return fake_state()


@pytest.fixture
def client(state: FakeState) -> Iterator[AppClient]:
    with AppClient(create_app(state=state, settings=ServingSettings())) as test_client:
        yield test_client
