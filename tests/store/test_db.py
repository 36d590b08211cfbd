"""The metadata database: dialect setup, migrations, concurrency and unreachable URLs."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

import workers
from modelyard.errors import ConfigError, StoreUnavailableError
from modelyard.store import HEAD, Database, current_revision, ensure_schema, upgrade
from modelyard.store._schema import api_keys, experiments, metadata, registered_models


def test_migrations_produce_exactly_the_declared_schema(db: Database) -> None:
    with db.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_schema_is_at_head_after_ensure(db: Database) -> None:
    assert current_revision(db) == HEAD
    ensure_schema(db, auto_migrate=True)  # idempotent
    assert current_revision(db) == HEAD


def test_empty_database_without_auto_migrate_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(ConfigError, match="modelyard db upgrade"):
        ensure_schema(db, auto_migrate=False)


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}", busy_timeout_s=12)
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_failed_write_transaction_changes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(experiments.insert().values(id="e1", name="x", created_at=1))
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute(select(experiments)).first() is None


def test_two_processes_writing_at_once_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    ensure_schema(Database(url), auto_migrate=True)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=workers.write_experiments, args=(url, w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with Database(url).read() as conn:
        assert conn.execute(text("select count(*) from experiments")).scalar() == 300


def test_processes_migrating_a_fresh_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=workers.migrate, args=(url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert current_revision(Database(url)) == HEAD


def test_unreachable_postgresql_is_a_clear_error_without_the_password() -> None:
    db = Database("postgresql://scott:tiger@127.0.0.1:1/nowhere", connect_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        db.check()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "metadata database" in message and "127.0.0.1:1" in message
    assert "tiger" not in message


def test_malformed_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a database URL"):
        Database("not a url")


def test_sqlite_folder_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailableError):
        Database(f"sqlite:///{blocker / 'sub' / 'm.db'}").check()


def test_upgrading_from_0001_keeps_the_rows(db_url: str) -> None:
    """A database written at 0001 (here: the session's PostgreSQL one taken back down) gains
    the 0002 tables and keeps its data."""
    from alembic import command

    from modelyard.store._migrate import _config

    db = Database(db_url)
    try:
        if current_revision(db) is not None:
            with db.write() as conn:
                command.downgrade(_config(conn), "0001")
        else:
            upgrade(db, "0001")
        assert current_revision(db) == "0001"
        with db.write() as conn:
            conn.execute(experiments.insert().values(id="e1", name="kept", created_at=1))
            conn.execute(
                registered_models.insert().values(
                    name="fraud", latest_version=0, created_at=1, updated_at=1
                )
            )
        upgrade(db)
        assert current_revision(db) == HEAD == "0007"
        with db.write() as conn:
            assert conn.execute(select(experiments.c.name)).scalars().all() == ["kept"]
            assert conn.execute(select(registered_models.c.name)).scalars().all() == ["fraud"]
            conn.execute(
                api_keys.insert().values(id="k", name="n", key_hash="h", scopes=[], created_at=1)
            )
    finally:
        upgrade(db)  # leave the shared PostgreSQL database at HEAD for the next test
        db.dispose()
