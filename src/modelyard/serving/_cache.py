"""The prediction cache: rows already answered by a model version are not computed again.

A row's key is the model version's digest plus the 128-bit hash of the row's inputs
(:mod:`modelyard.serving._rowhash`), so a new version never sees an old version's answers.
Two backends implement :class:`CacheBackend`: :class:`LocalCache`, an in-process TTL LRU
(``cachetools.TTLCache``), and :class:`RedisCache` (``redis.asyncio``: one MGET per
request, one pipelined SET with an expiry for its misses), shared by every replica.
:class:`PredictionCache` splits a request into hits and misses and puts the answer back
together. A failing backend never fails a request: its rows are computed instead.

Example:
    >>> cache = PredictionCache("fraud", LocalCache(max_entries=1000, ttl_s=60))
    >>> lookup = await cache.lookup(model.digest, batch)   # lookup.misses: rows to compute
    >>> outputs = await cache.complete(lookup, computed)    # every row, in order
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import pandas as pd
from cachetools import TTLCache

from modelyard.serving._observer import CacheStats, ServingObserver
from modelyard.serving._rowhash import row_keys
from modelyard.serving._types import InputBatch

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["CacheBackend", "CacheLookup", "LocalCache", "PredictionCache", "RedisCache"]

log = logging.getLogger(__name__)

_REDIS_PREFIX = b"modelyard:pred:"


class CacheBackend(Protocol):
    """Stores output rows by key; :meth:`get` answers in the order of ``keys``."""

    async def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """A bool mask of the keys found, and the rows found stacked in key order."""
        ...

    async def put(self, keys: list[bytes], rows: np.ndarray) -> None:
        """Store ``rows[i]`` under ``keys[i]``."""
        ...


class LocalCache:
    """In-process TTL LRU of output rows; event-loop only, no locking."""

    def __init__(self, *, max_entries: int, ttl_s: float) -> None:
        self._rows: TTLCache[bytes, np.ndarray] = TTLCache(maxsize=max_entries, ttl=ttl_s)

    async def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        get = self._rows.get
        found = [get(key) for key in keys]
        mask = np.fromiter((row is not None for row in found), dtype=bool, count=len(keys))
        if not mask.any():
            return mask, None
        return mask, np.asarray([row for row in found if row is not None])

    async def put(self, keys: list[bytes], rows: np.ndarray) -> None:
        own = np.array(rows, copy=True)  # views of a bigger batch's output would pin it
        self._rows.update(zip(keys, own, strict=True))


class RedisCache:
    """Rows in Redis as ``dtype;shape;bytes`` values that expire after ``ttl_s``."""

    def __init__(self, client: Redis, *, ttl_s: float) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl_s * 1000))

    async def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        redis_keys = [_REDIS_PREFIX + key for key in keys]
        values: list[Any] = await self._client.mget(redis_keys)
        mask = np.fromiter((value is not None for value in values), dtype=bool, count=len(keys))
        if not mask.any():
            return mask, None
        return mask, decode_rows([value for value in values if value is not None])

    async def put(self, keys: list[bytes], rows: np.ndarray) -> None:
        values = encode_rows(rows)
        if values is None:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for key, value in zip(keys, values, strict=True):
                pipe.set(_REDIS_PREFIX + key, value, px=self._ttl_ms)
            await pipe.execute()


def encode_rows(rows: np.ndarray) -> list[bytes] | None:
    """Each row as ``dtype;shape;raw bytes``, built for all rows at once; None for outputs
    that are not plain numbers or strings."""
    if rows.dtype.kind == "O":
        if pd.api.types.infer_dtype(rows.ravel(), skipna=False) != "string":
            return None
        rows = rows.astype(str)
    if rows.dtype.kind not in "biufcUSmM":
        return None
    n = rows.shape[0]
    shape = ",".join(str(dim) for dim in rows.shape[1:])
    header = np.frombuffer(f"{rows.dtype.str};{shape};".encode(), dtype=np.uint8)
    body = np.ascontiguousarray(rows).reshape(n, -1).view(np.uint8).reshape(n, -1)
    matrix = np.ascontiguousarray(
        np.concatenate([np.broadcast_to(header, (n, header.size)), body], axis=1)
    )
    encoded = matrix.view(np.dtype((np.void, matrix.shape[1]))).ravel().tolist()
    return cast(list[bytes], encoded)


def decode_rows(values: list[bytes]) -> np.ndarray:
    """The rows :func:`encode_rows` wrote, stacked; all at once when they share a header."""
    first = values[0]
    size = len(first)
    head_len = first.index(b";", first.index(b";") + 1) + 1
    head = first[:head_len]
    joined = np.frombuffer(b"".join(values), dtype=np.uint8)
    if joined.size == size * len(values):
        matrix = joined.reshape(len(values), size)
        if (matrix[:, :head_len] == np.frombuffer(head, np.uint8)).all():
            return _decode_body(head, np.ascontiguousarray(matrix[:, head_len:]), len(values))
    rows = [decode_rows([value])[0] for value in values]  # mixed dtypes: rare
    return np.asarray(rows)


def _decode_body(head: bytes, body: np.ndarray, count: int) -> np.ndarray:
    dtype_str, shape_str, _ = head.decode().split(";")
    shape = tuple(int(dim) for dim in shape_str.split(",") if dim)
    return body.view(np.dtype(dtype_str)).reshape(count, *shape)


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """A request split into cached rows and rows still to compute."""

    digest: str
    keys: list[bytes]
    hit_mask: np.ndarray
    hits: np.ndarray | None  # the cached rows, in order
    misses: InputBatch | None  # the rows to compute, None when every row was cached

    @property
    def hit_count(self) -> int:
        return int(self.hit_mask.sum())


class PredictionCache:
    """One deployment's cache: lookups, stores and running hit/miss totals."""

    def __init__(
        self,
        deployment: str,
        backend: CacheBackend,
        observer: ServingObserver | None = None,
    ) -> None:
        self.deployment = deployment
        self.backend = backend
        self._observer = observer or ServingObserver()
        self.hits = 0
        self.misses = 0
        self.errors = 0

    async def lookup(self, digest: str, batch: InputBatch) -> CacheLookup:
        """Which rows of ``batch`` the version ``digest`` already answered."""
        keys = row_keys(batch, digest.encode() + b":")
        try:
            mask, hits = await self.backend.get(keys)
        except Exception as exc:  # an unreachable Redis must not fail predictions
            self._backend_failed(exc)
            mask, hits = np.zeros(batch.n_rows, dtype=bool), None
        count = int(mask.sum())
        self.hits += count
        self.misses += batch.n_rows - count
        self._observer.cache(self.deployment, count, batch.n_rows - count)
        misses = batch if count == 0 else _take_rows(batch, ~mask) if count < batch.n_rows else None
        return CacheLookup(digest, keys, mask, hits, misses)

    async def complete(self, lookup: CacheLookup, computed: np.ndarray | None) -> np.ndarray:
        """Every row's output: cached rows and ``computed`` (the misses') put in place;
        the computed rows are stored."""
        if computed is None or lookup.misses is None:
            assert lookup.hits is not None
            return lookup.hits
        miss_keys = lookup.keys
        if lookup.hits is not None:
            miss_keys = np.array(lookup.keys, dtype=object)[~lookup.hit_mask].tolist()
        try:
            await self.backend.put(miss_keys, computed)
        except Exception as exc:
            self._backend_failed(exc)
        if lookup.hits is None:
            return computed
        dtype = np.result_type(lookup.hits, computed)
        out = np.empty((lookup.hit_mask.size, *computed.shape[1:]), dtype=dtype)
        out[lookup.hit_mask] = lookup.hits
        out[~lookup.hit_mask] = computed
        return out

    def _backend_failed(self, exc: Exception) -> None:
        self.errors += 1
        log.warning("prediction cache of %s failed: %s", self.deployment, exc)
        self._observer.cache_error(self.deployment, f"{type(exc).__name__}: {exc}")

    def stats(self) -> CacheStats:
        return CacheStats(self.deployment, self.hits, self.misses, self.errors)


def _take_rows(batch: InputBatch, mask: np.ndarray) -> InputBatch:
    rows = int(mask.sum())
    if batch.tensor is not None:
        return InputBatch(n_rows=rows, tensor=batch.tensor[mask])
    columns = {name: values[mask] for name, values in (batch.columns or {}).items()}
    return InputBatch(n_rows=rows, columns=columns)
