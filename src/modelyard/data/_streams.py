"""Streams: append-only event logs that pipelines load incrementally, each event exactly once.

One small protocol, :class:`StreamLog` (``append`` for producers, ``read``/``ack`` for the
stream source), with two backends:

- :class:`EmbeddedStream`: the ``stream_events`` table of the metadata database, the
  default that needs no Redis. The durable cursor (last loaded id) is written in the
  transaction that records the dataset version, so a load happens exactly once.
- :class:`RedisStream`: a Redis Stream read through a consumer group. Each entry holds one
  field, ``payload``, with the event as JSON, so numbers, booleans, nulls and nesting survive
  (Redis field values are strings); entries without that field (other producers) are read
  as their fields, all text. Delivery is at least once: a consumer, named after the
  pipeline and source, first re-reads its own pending entries, then new ones; the last
  loaded id is committed with the version and entries at or below it are dropped (and
  acknowledged), so a run killed before or after its commit still loads each event once.

The source that loads a stream into a dataset is in ``_stream_source.py``.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import orjson
from sqlalchemy import select, text

from modelyard._ids import now_ms
from modelyard.errors import ConfigError, SourceDataError, SourceUnavailableError, ValidationError
from modelyard.store._schema import stream_events

if TYPE_CHECKING:
    import redis

    from modelyard.config import DataSettings
    from modelyard.store import Database

__all__ = [
    "EmbeddedStream",
    "Reading",
    "RedisStream",
    "StreamBatch",
    "StreamEvent",
    "StreamLog",
    "mask_url",
    "open_stream",
]

log = logging.getLogger(__name__)

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event read from a stream."""

    id: str
    time_ms: int  # when it was appended
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Reading:
    """What a source asks of a stream: events with ids above ``after``, ``batch`` at a time,
    at most ``limit`` new ones, delivered to ``consumer`` of ``group`` (Redis); ``replay``
    reads every retained event from the start instead, outside any group (full refresh)."""

    after: str | None
    group: str
    consumer: str
    batch: int
    limit: int | None = None
    replay: bool = False


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """Events a read returned: ``events`` are new (id above the cursor), in id order;
    ``pending`` are ids delivered to this consumer, to acknowledge once loaded; ``stale``
    were delivered again but are loaded already (or deleted), to acknowledge in any case."""

    events: list[StreamEvent]
    pending: list[str]
    stale: list[str]


def _encode(event: Mapping[str, Any]) -> bytes:
    if not isinstance(event, Mapping):
        raise ValidationError(f"a stream event must be a mapping, not {type(event).__name__}")
    try:
        return orjson.dumps(event, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise ValidationError(f"a stream event must be JSON: {exc}") from None


class StreamLog(abc.ABC):
    """An append-only log of JSON events named ``name``."""

    backend: ClassVar[str]

    def __init__(self, name: str) -> None:
        if not name or len(name) > 255:
            raise ValidationError(f"a stream needs a name of 1 to 255 characters, not {name!r}")
        self.name = name

    @abc.abstractmethod
    def append(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add ``events`` (JSON-able mappings) in order; return their ids."""

    @abc.abstractmethod
    def read(self, reading: Reading) -> Iterator[StreamBatch]:
        """The events ``reading`` asks for, in id order, one batch at a time."""

    def ack(self, group: str, ids: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Acknowledge ``ids`` for ``group`` (a no-op where the cursor alone is the truth)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> StreamLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EmbeddedStream(StreamLog):
    """A stream in the ``stream_events`` table of the metadata database ``db``.

    Example:
        >>> clicks = EmbeddedStream(db, "clicks")
        >>> clicks.append([{"user": 1, "page": "/"}])
        ['1']
    """

    backend: ClassVar[str] = "embedded"

    def __init__(self, db: Database, name: str) -> None:
        super().__init__(name)
        self.db = db

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        payloads = [orjson.loads(_encode(event)) for event in events]
        if not payloads:
            return []
        created = now_ms()
        rows = [{"stream": self.name, "payload": p, "created_at": created} for p in payloads]
        insert = stream_events.insert().returning(stream_events.c.id, sort_by_parameter_order=True)
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                # appends to one stream commit in id order, so a reader that sees id N has
                # seen every id below it (SQLite writers are serialised anyway)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
            ids = conn.execute(insert, rows).scalars().all()
        return [str(i) for i in ids]

    @property
    def _lock_key(self) -> int:
        digest = hashlib.sha256(b"modelyard.stream:" + self.name.encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def read(self, reading: Reading) -> Iterator[StreamBatch]:
        last = 0 if reading.after is None or reading.replay else int(reading.after)
        remaining = reading.limit
        table = stream_events.c
        while remaining is None or remaining > 0:
            count = reading.batch if remaining is None else min(reading.batch, remaining)
            query = (
                select(table.id, table.payload, table.created_at)
                .where((table.stream == self.name) & (table.id > last))
                .order_by(table.id)
                .limit(count)
            )
            with self.db.read() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield StreamBatch([StreamEvent(str(i), t, p) for i, p, t in rows], [], [])
            last = rows[-1][0]
            remaining = None if remaining is None else remaining - len(rows)
            if len(rows) < count:
                return


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def _redis_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisStream(StreamLog):
    """A Redis Stream at ``url`` (``redis://host:6379/0``); the key is the stream's name.

    The client is created on first use; every wait is bounded by ``timeout_s``.
    """

    backend: ClassVar[str] = "redis"

    def __init__(self, url: str, name: str, *, timeout_s: float = 5.0) -> None:
        super().__init__(name)
        self.url = url
        self.timeout_s = timeout_s
        self._client: redis.Redis | None = None

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.url, decode_responses=True,
                socket_connect_timeout=self.timeout_s, socket_timeout=self.timeout_s,
            )  # fmt: skip
        return self._client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SourceUnavailableError("stream", self.display_url, str(exc)) from None
        except redis.ResponseError as exc:
            raise ValidationError(f"Redis at {self.display_url} refused {what}: {exc}") from None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._errors(method):
            return getattr(self.client, method)(*args, **kwargs)

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        payloads = [_encode(event).decode() for event in events]
        ids: list[str] = []
        for start in range(0, len(payloads), _CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for payload in payloads[start : start + _CHUNK]:
                pipe.xadd(self.name, {"payload": payload})
            with self._errors("xadd"):
                ids.extend(str(i) for i in pipe.execute())
        return ids

    def ensure_group(self, group: str) -> None:
        """Create the consumer group (from the stream's start) unless it exists."""
        try:
            self._call("xgroup_create", self.name, group, id="0", mkstream=True)
        except ValidationError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, reading: Reading) -> Iterator[StreamBatch]:
        replay, after = reading.replay, reading.after
        after_key = _redis_key(after) if after is not None and not replay else None
        if not replay:
            self.ensure_group(reading.group)
        remaining = reading.limit
        for phase in ("range",) if replay else ("pending", "new"):
            start = "-" if phase == "range" else "0"
            while remaining is None or remaining > 0:
                count = reading.batch if remaining is None else min(reading.batch, remaining)
                entries = self._fetch(phase, reading, start, count)
                if not entries:
                    break
                start = "(" + entries[-1][0] if phase == "range" else entries[-1][0]
                found = self._batch(entries, after_key, delivered=phase != "range")
                remaining = None if remaining is None else remaining - len(found.events)
                yield found
                if len(entries) < count:
                    break

    def _fetch(self, phase: str, reading: Reading, start: str, count: int) -> list[Any]:
        if phase == "range":
            return list(self._call("xrange", self.name, min=start, max="+", count=count))
        since = {self.name: ">" if phase == "new" else start}
        reply = self._call("xreadgroup", reading.group, reading.consumer, since, count=count)
        return list(reply[0][1]) if reply else []

    def _batch(
        self, entries: list[Any], after: tuple[int, int] | None, *, delivered: bool
    ) -> StreamBatch:
        events: list[StreamEvent] = []
        stale: list[str] = []
        for entry_id, fields in entries:
            if not fields or (after is not None and _redis_key(entry_id) <= after):
                stale.append(entry_id)  # deleted, or loaded by a run that died before its ack
                continue
            events.append(
                StreamEvent(entry_id, _redis_key(entry_id)[0], self._payload(entry_id, fields))
            )
        pending = [e.id for e in events] if delivered else []
        return StreamBatch(events, pending, stale if delivered else [])

    def _payload(self, entry_id: str, fields: Mapping[str, str]) -> Mapping[str, Any]:
        if "payload" not in fields:
            return fields
        try:
            payload = orjson.loads(fields["payload"])
        except orjson.JSONDecodeError as exc:
            raise SourceDataError(
                f"stream {self.name!r} event {entry_id}", f"not JSON: {exc}"
            ) from None
        if not isinstance(payload, dict):
            raise SourceDataError(f"stream {self.name!r} event {entry_id}", "not a JSON object")
        return payload

    def ack(self, group: str, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _CHUNK):
            self._call("xack", self.name, group, *ids[start : start + _CHUNK])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def open_stream(
    name: str, *, db: Database, settings: DataSettings, url: str | None = None
) -> StreamLog:
    """The stream ``name`` of a workspace: a Redis Stream when ``url`` (default: the
    workspace's ``settings.stream_url``) is set, else the embedded stream in ``db``.

    Example:
        >>> with open_stream("clicks", db=ws.db, settings=ws.settings.data) as clicks:
        ...     ids = clicks.append([{"user": 1, "page": "/"}])
    """
    target = settings.stream_url if url is None else url
    if not target:
        return EmbeddedStream(db, name)
    if target.startswith(("redis://", "rediss://", "unix://")):
        return RedisStream(target, name)
    raise ConfigError(f"stream URL {mask_url(target)!r} is neither empty nor redis://")
