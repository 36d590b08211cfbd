"""Shared fixtures: every store test runs against SQLite and the real PostgreSQL.

PostgreSQL is reached at ``MODELYARD_TEST_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). When it is unreachable its tests
skip with the reason, unless ``MODELYARD_REQUIRE_SERVICES=1`` (as in CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from modelyard.store import Database, ensure_schema
from modelyard.store._schema import metadata

if TYPE_CHECKING:
    from modelyard import Workspace

REQUIRE_SERVICES = os.environ.get("MODELYARD_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "MODELYARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``pytest -n 2`` (``--dist loadgroup``, as ``make test`` runs), each test file
    runs on one worker, in order, so that module fixtures (a server, a quickstart) start
    once; every Ray test runs on one worker, which alone starts the local Ray, and starts
    on them first."""
    for item in items:
        group = "ray" if _on_ray(item) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    # The Ray tests, the longest group by far, first: one worker starts on them while the
    # other takes file after file, instead of both waiting for them at the end.
    items.sort(key=lambda item: not _on_ray(item))


def _on_ray(item: pytest.Item) -> bool:
    return "/tests/compute/" in str(item.path).replace("\\", "/")


def service_missing(reason: str) -> None:
    """Skip, or fail when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MODELYARD_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MODELYARD_") and name not in (
            "MODELYARD_REQUIRE_SERVICES",
            "MODELYARD_TEST_POSTGRES",
        ):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"modelyard_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        service_missing(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc.__class__.__name__}"
        )
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    ensure_schema(db, auto_migrate=True)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata URL of an empty database: a new SQLite file, or the session's PostgreSQL
    database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    ensure_schema(database, auto_migrate=True)
    yield database
    database.dispose()


@pytest.fixture
def workspace(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A started workspace in ``tmp_path`` on each metadata backend."""
    from modelyard import Workspace
    from modelyard.config import load_settings

    ws = Workspace(load_settings(tmp_path, metadata_url=db_url))
    ws.start()
    yield ws
    ws.close()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on the embedded defaults only."""
    from modelyard import Workspace
    from modelyard.config import load_settings

    ws = Workspace(load_settings(tmp_path))
    ws.start()
    yield ws
    ws.close()


@pytest.fixture
def data_ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on each metadata backend, with small batches and no retry pauses."""
    from modelyard import Workspace
    from modelyard.config import load_settings

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
