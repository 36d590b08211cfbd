"""The shared online store: one Redis string per (view, entity).

The key is ``{prefix}:online:{view}:`` followed by the canonical entity key; the value is
the event timestamp as 19 ASCII digits (microseconds since the epoch plus 2**62, so that
every date from year 1 to 9999 has the same width and compares as text) followed by the
orjson values. The newer-only rule runs inside Redis, in a Lua script registered once
and called by EVALSHA with up to ``_CHUNK`` keys per call, the calls of a batch sent in
one pipeline; reads are one MGET per ``_CHUNK`` keys, also in one pipeline.

A script call touches many keys, so under Redis Cluster all keys of a call would need
one hash slot: this store targets a single Redis (or a replicated primary).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modelyard.data._streams import mask_url
from modelyard.errors import StoreUnavailableError
from modelyard.features._online import EncodedRow, OnlineStore

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

__all__ = ["RedisOnlineStore"]

_CHUNK = 1000
_TS_WIDTH = 19
_TS_BIAS = 1 << 62

# KEYS: entity keys; ARGV[i]: the new value of KEYS[i]. Values start with the timestamp
# digits, so comparing the first 19 bytes compares event times; equal times overwrite.
_PUT_NEWER = """
local written = 0
for i, key in ipairs(KEYS) do
  local value = ARGV[i]
  local stored = redis.call('GETRANGE', key, 0, 18)
  if stored == '' or stored <= string.sub(value, 1, 19) then
    redis.call('SET', key, value)
    written = written + 1
  end
end
return written
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisOnlineStore(OnlineStore):
    """Online features in the Redis at ``url`` (``redis://host:6379/0``), under keys
    starting with ``prefix``. The client is created on first use.

    Example:
        >>> with RedisOnlineStore("redis://127.0.0.1:6379/0") as store:
        ...     store.read("user_stats", [(42,)], ["txn_count"]).values["txn_count"]
    """

    def __init__(self, url: str, *, prefix: str = "modelyard", timeout_s: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._script: Script | None = None

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return mask_url(self.url)

    def _connect(self) -> tuple[redis.Redis, Script]:
        with self._lock:
            if self._client is None or self._script is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url,
                    socket_connect_timeout=self.timeout_s,
                    socket_timeout=self.timeout_s,
                )
                self._script = self._client.register_script(_PUT_NEWER)
            return self._client, self._script

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError("online store", self.display_url, str(exc)) from None

    def _keyspace(self, view: str) -> bytes:
        return f"{self.prefix}:online:{view}:".encode()

    def _put(self, view: str, rows: list[EncodedRow]) -> int:
        client, script = self._connect()
        space = self._keyspace(view)
        with self._errors():
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                script(
                    keys=[space + key for key, _, _ in chunk],
                    args=[b"%019d" % (ts + _TS_BIAS) + data for _, ts, data in chunk],
                    client=pipe,
                )
            results: list[Any] = pipe.execute()
        return sum(int(n) for n in results)

    def _get(self, view: str, keys: list[bytes]) -> Mapping[bytes, tuple[int, bytes]]:
        client, _ = self._connect()
        space = self._keyspace(view)
        with self._errors():
            if len(keys) <= _CHUNK:  # the common case: one round trip, no pipeline
                values: list[Any] = client.mget([space + key for key in keys])
            else:
                pipe = client.pipeline(transaction=False)
                for start in range(0, len(keys), _CHUNK):
                    pipe.mget([space + key for key in keys[start : start + _CHUNK]])
                values = [value for chunk in pipe.execute() for value in chunk]
        return {
            key: (int(value[:_TS_WIDTH]) - _TS_BIAS, value[_TS_WIDTH:])
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    def _drop(self, view: str) -> None:
        client, _ = self._connect()
        pattern = _glob_escape(f"{self.prefix}:online:{view}:") + "*"
        with self._errors():
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=_CHUNK):
                batch.append(key)
                if len(batch) >= _CHUNK:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)

    def close(self) -> None:
        """Close the client's connections."""
        with self._lock:
            client, self._client, self._script = self._client, None, None
        if client is not None:
            client.close()
