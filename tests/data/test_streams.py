"""Streams: the embedded log (SQLite and PostgreSQL) and Redis Streams, loaded through the
source contract by hand (extract, register, verify, commit, finish), and a Redis consumer
killed mid-run that still loads every event exactly once.

The kill tests run this file as a script in a child process (see ``_child`` at the end):
the child injects its own SIGKILL between two steps of the contract.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
import pytest
import redis
from sqlalchemy import text

from datakit import run_extract
from modelyard.config import DataSettings
from modelyard.data._source import SourceContext
from modelyard.data._stream_source import StreamExtract, stream_source
from modelyard.data._streams import EmbeddedStream, RedisStream, open_stream
from modelyard.errors import (
    ConfigError,
    SourceDataError,
    SourceUnavailableError,
    ValidationError,
)
from modelyard.store import Database, ensure_schema

if TYPE_CHECKING:
    from modelyard.data._datasets import DatasetStore

REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    from conftest import service_missing  # imported here: the child process has no conftest

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_name(redis_url: str) -> Iterator[str]:
    """A fresh stream key, deleted afterwards."""
    name = f"modelyard-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


@pytest.fixture(params=["embedded", "redis"])
def stream_url(request: pytest.FixtureRequest) -> str:
    """The workspace's ``stream_url`` for each backend."""
    return "" if request.param == "embedded" else str(request.getfixturevalue("redis_url"))


@pytest.fixture
def name(stream_url: str, request: pytest.FixtureRequest) -> str:
    if stream_url:
        return str(request.getfixturevalue("redis_name"))
    return f"events-{uuid.uuid4().hex[:8]}"


def _ctx(
    db: Database, stream_url: str, *, batch_rows: int = 1000, full: bool = False,
    pipeline: str = "clicks_pipeline", workspace: Path = Path("."),
) -> SourceContext:  # fmt: skip
    settings = DataSettings(batch_rows=batch_rows, stream_url=stream_url)
    datasets = cast("DatasetStore", None)  # the stream source does not read datasets
    return SourceContext(pipeline, "clicks", db, datasets, settings, workspace, None, full)


def _append(db: Database, stream_url: str, name: str, events: list[dict[str, Any]]) -> list[str]:
    with open_stream(name, db=db, settings=DataSettings(stream_url=stream_url)) as stream:
        return stream.append(events)


def test_each_event_is_loaded_once(db: Database, stream_url: str, name: str) -> None:
    ids = _append(db, stream_url, name, [{"n": i, "page": f"/{i}"} for i in range(5)])
    source = stream_source(name)
    _, rows = run_extract(source, _ctx(db, stream_url))
    assert [r["n"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["_event_id"] for r in rows] == ids
    again, rows = run_extract(source, _ctx(db, stream_url))
    assert again.empty and rows == []
    more = _append(db, stream_url, name, [{"n": 5, "page": "/5"}, {"n": 6, "page": "/6"}])
    later, rows = run_extract(source, _ctx(db, stream_url))
    assert [r["_event_id"] for r in rows] == more
    assert later.lineage() == {
        "kind": "stream", "backend": "redis" if stream_url else "embedded", "stream": name,
        "group": "modelyard", "first_id": more[0], "last_id": more[1], "events": 2,
    }  # fmt: skip


def test_an_uncommitted_run_leaves_the_events_for_the_next(
    db: Database, stream_url: str, name: str
) -> None:
    _append(db, stream_url, name, [{"n": i} for i in range(3)])
    source = stream_source(name)
    run_extract(source, _ctx(db, stream_url), commit=False)
    extract, rows = run_extract(source, _ctx(db, stream_url))
    assert not extract.empty and [r["n"] for r in rows] == [0, 1, 2]


def test_events_are_read_in_batches_up_to_max_events(
    db: Database, stream_url: str, name: str
) -> None:
    _append(db, stream_url, name, [{"n": i} for i in range(12)])
    source = stream_source(name, max_events=5)
    loads = []
    for _ in range(4):
        extract, rows = run_extract(source, _ctx(db, stream_url, batch_rows=2))
        loads.append([r["n"] for r in rows])
        if rows:
            assert len(cast(StreamExtract, extract).spill.files) == (len(rows) + 1) // 2
    assert loads == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11], []]


def test_declared_columns_are_cast(db: Database, stream_url: str, name: str) -> None:
    _append(db, stream_url, name, [
        {"user": "7", "price": 3, "at": "2024-05-01T10:00:00", "extra": {"a": [1]}},
        {"user": 8, "price": 2.5, "at": None},
    ])  # fmt: skip
    columns = {"user": "BIGINT", "price": "DOUBLE", "at": "TIMESTAMP", "missing": "VARCHAR"}
    source = stream_source(name, columns=columns)
    extract = source.extract(_ctx(db, stream_url))
    con = duckdb.connect()
    extract.register(con, "clicks")
    types = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE clicks").fetchall()}
    rows = con.execute("SELECT user, price, missing FROM clicks").fetchall()
    extract.abort()
    con.close()
    assert {k: types[k] for k in columns} == columns
    assert types["_event_id"] == "VARCHAR" and types["_event_time"] == "TIMESTAMP"
    assert rows == [(7, 3.0, None), (8, 2.5, None)]


def test_an_empty_stream_still_has_the_declared_columns(
    db: Database, stream_url: str, name: str
) -> None:
    source = stream_source(name, columns={"user": "BIGINT"})
    extract = source.extract(_ctx(db, stream_url))
    con = duckdb.connect()
    extract.register(con, "clicks")
    described = [(str(r[0]), str(r[1])) for r in con.execute("DESCRIBE clicks").fetchall()]
    extract.abort()
    assert extract.empty
    assert described == [("user", "BIGINT"), ("_event_id", "VARCHAR"), ("_event_time", "TIMESTAMP")]


def test_a_value_that_does_not_convert_names_the_stream_and_event(
    db: Database, stream_url: str, name: str
) -> None:
    ids = _append(db, stream_url, name, [{"user": 1}, {"user": "seven"}])
    source = stream_source(name, columns={"user": "BIGINT"})
    with pytest.raises(SourceDataError, match=f"{name}.*{ids[1]}.*seven.*BIGINT"):
        source.extract(_ctx(db, stream_url))


def test_undeclared_fields_that_disagree_become_text(
    db: Database, stream_url: str, name: str
) -> None:
    _append(db, stream_url, name, [{"v": 1}, {"v": "x"}, {"v": True}, {"w": None}])
    _, rows = run_extract(stream_source(name), _ctx(db, stream_url))
    assert [(r["v"], r["w"]) for r in rows] == [
        ("1", None),
        ("x", None),
        ("true", None),
        (None, None),
    ]


def test_a_full_refresh_reads_every_event_again(db: Database, stream_url: str, name: str) -> None:
    _append(db, stream_url, name, [{"n": i} for i in range(3)])
    source = stream_source(name)
    run_extract(source, _ctx(db, stream_url))
    _, rows = run_extract(source, _ctx(db, stream_url, full=True))
    assert [r["n"] for r in rows] == [0, 1, 2]
    _append(db, stream_url, name, [{"n": 3}])
    _, rows = run_extract(source, _ctx(db, stream_url))  # the refresh moved the cursor
    assert [r["n"] for r in rows] == [3]


def test_each_pipeline_has_its_own_cursor(db: Database, stream_url: str, name: str) -> None:
    _append(db, stream_url, name, [{"n": 1}])
    run_extract(stream_source(name, group="a"), _ctx(db, stream_url, pipeline="first"))
    _, rows = run_extract(stream_source(name, group="b"), _ctx(db, stream_url, pipeline="second"))
    assert [r["n"] for r in rows] == [1]


def test_event_times_come_from_the_log(db: Database, stream_url: str, name: str) -> None:
    before = time.time()
    _append(db, stream_url, name, [{"n": 1}])
    _, rows = run_extract(stream_source(name), _ctx(db, stream_url))
    stamp = rows[0]["_event_time"].replace(tzinfo=dt.UTC).timestamp()  # naive UTC
    assert before - 1 <= stamp <= time.time() + 1


def test_events_must_be_json_objects(db: Database, stream_url: str, name: str) -> None:
    with pytest.raises(ValidationError, match="JSON"):
        _append(db, stream_url, name, [{"n": object()}])
    with pytest.raises(ValidationError, match="mapping"):
        _append(db, stream_url, name, [cast(dict[str, Any], [1, 2])])


def test_open_stream_follows_the_stream_url(db: Database) -> None:
    assert isinstance(open_stream("s", db=db, settings=DataSettings()), EmbeddedStream)
    redis_stream = open_stream("s", db=db, settings=DataSettings(stream_url="redis://h:1/0"))
    assert isinstance(redis_stream, RedisStream)
    with pytest.raises(ConfigError, match="redis"):
        open_stream("s", db=db, settings=DataSettings(stream_url="kafka://h:1"))


def test_an_unreachable_redis_is_unavailable(tmp_path: Path) -> None:
    db = _sqlite(tmp_path)
    url = "redis://:hunter2@127.0.0.1:1/0"
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match=r"127\.0\.0\.1:1") as info:
        stream_source("s", url=url).extract(_ctx(db, ""))
    assert time.monotonic() - started < 10 and "hunter2" not in str(info.value)


def test_redis_entries_loaded_before_a_lost_ack_are_dropped_and_acked(
    tmp_path: Path, redis_url: str, redis_name: str
) -> None:
    db = _sqlite(tmp_path)
    _append(db, redis_url, redis_name, [{"n": i} for i in range(3)])
    source = stream_source(redis_name)
    extract = source.extract(_ctx(db, redis_url))
    with db.write() as conn:
        extract.commit(conn, "run1")
    cast(StreamExtract, extract).release()  # the run dies before finish(): nothing acked
    assert _pending(redis_url, redis_name) == 3
    again, rows = run_extract(source, _ctx(db, redis_url))
    assert again.empty and rows == []
    assert _pending(redis_url, redis_name) == 0  # abort() acknowledged the stale entries


def test_other_producers_fields_are_read_as_text(
    tmp_path: Path, redis_url: str, redis_name: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.xadd(redis_name, {"user": "7", "page": "/"})
    client.close()
    _, rows = run_extract(stream_source(redis_name), _ctx(_sqlite(tmp_path), redis_url))
    assert [(r["user"], r["page"]) for r in rows] == [("7", "/")]


# -- a consumer killed mid-run ------------------------------------------------------------


def _sqlite(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'metadata.db'}")
    ensure_schema(db, auto_migrate=True)
    return db


def _pending(url: str, name: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.xpending(name, "modelyard")["pending"])
    finally:
        client.close()


def _spawn(db: Database, url: str, name: str, kill: str, tmp_path: Path) -> dict[str, Any]:
    """One run in a child process that SIGKILLs itself at ``kill`` ("read": after reading,
    before committing; "ack": after committing, before acknowledging; "": never)."""
    args = {"db": db.url.render_as_string(hide_password=False), "url": url, "stream": name,
            "kill": kill, "max_events": 20, "batch_rows": 8}  # fmt: skip
    tests = str(Path(__file__).resolve().parents[1])  # the child imports the test kits
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": tests}
    done = subprocess.run(
        [sys.executable, __file__, json.dumps(args)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    if kill:
        assert done.returncode == -signal.SIGKILL, done.stderr
        return {}
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _loaded(db: Database) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(text("SELECT event_id FROM loaded")).all()]


def _kill_and_restart(
    tmp_path: Path, url: str, name: str, kill: str, *, after_kills: tuple[int, int]
) -> None:
    """Two runs killed at ``kill``, then restarts until nothing is left; ``after_kills`` is
    (events committed, entries pending) once both were killed."""
    db = _sqlite(tmp_path)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE loaded (run_id TEXT, event_id TEXT)"))
    ids = _append(db, url, name, [{"n": i} for i in range(25)])
    _spawn(db, url, name, kill, tmp_path)
    ids += _append(db, url, name, [{"n": i} for i in range(25, 30)])
    _spawn(db, url, name, kill, tmp_path)
    assert (len(_loaded(db)), _pending(url, name)) == after_kills
    while _spawn(db, url, name, "", tmp_path)["events"]:  # restarted until nothing is left
        pass
    assert sorted(_loaded(db)) == sorted(ids)  # every event, none twice
    assert _pending(url, name) == 0


@pytest.mark.slow
def test_a_redis_consumer_killed_before_its_commit_loads_each_event_once(
    tmp_path: Path, redis_url: str, redis_name: str
) -> None:
    _kill_and_restart(tmp_path, redis_url, redis_name, "read", after_kills=(0, 20))


@pytest.mark.slow
def test_a_redis_consumer_killed_before_its_ack_loads_each_event_once(
    tmp_path: Path, redis_url: str, redis_name: str
) -> None:
    _kill_and_restart(tmp_path, redis_url, redis_name, "ack", after_kills=(30, 30))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _child(args: dict[str, Any]) -> None:
    """The child of :func:`_spawn`: one run, with its loaded event ids recorded in the
    ``loaded`` table in the same transaction as the cursor."""
    db = Database(args["db"])
    source = stream_source(args["stream"], url=args["url"], max_events=args["max_events"])
    extract = source.extract(_ctx(db, "", batch_rows=args["batch_rows"]))
    con = duckdb.connect()
    extract.register(con, "clicks")
    ids = [str(r[0]) for r in con.execute("SELECT _event_id FROM clicks").fetchall()]
    if args["kill"] == "read":
        _die()
    if args["kill"] == "ack":
        extract.finish = _die  # type: ignore[method-assign]
    if not extract.empty:
        run_id = uuid.uuid4().hex
        with db.write() as conn:
            extract.commit(conn, run_id)
            conn.execute(text("INSERT INTO loaded VALUES (:r, :e)"),
                         [{"r": run_id, "e": i} for i in ids])  # fmt: skip
        extract.finish()
    else:
        extract.abort()
    print(json.dumps({"events": len(ids)}))


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
