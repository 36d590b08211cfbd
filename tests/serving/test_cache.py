"""The prediction cache: row keys, the in-process and Redis backends, hits and misses."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import service_missing
from modelyard.serving._cache import (
    CacheBackend,
    LocalCache,
    PredictionCache,
    RedisCache,
    decode_rows,
    encode_rows,
)
from modelyard.serving._rowhash import row_hashes, row_keys
from modelyard.serving._types import InputBatch

REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")


def columns(n: int, seed: int = 0) -> InputBatch:
    rng = np.random.default_rng(seed)
    return InputBatch(
        n_rows=n,
        columns={
            "amount": rng.normal(size=n),
            "count": rng.integers(0, 5, size=n).astype(np.int32),
            "flag": rng.integers(0, 2, size=n).astype(bool),
            "city": np.array(rng.choice(["Oslo", "Rome", "Lima", ""], size=n), dtype=object),
            "when": np.datetime64("2024-01-01") + rng.integers(0, 9, size=n).astype("m8[D]"),
        },
    )


def one_row(batch: InputBatch, i: int) -> InputBatch:
    if batch.tensor is not None:
        return InputBatch(n_rows=1, tensor=batch.tensor[i : i + 1])
    assert batch.columns is not None
    return InputBatch(n_rows=1, columns={k: v[i : i + 1] for k, v in batch.columns.items()})


# -- row keys ------------------------------------------------------------------------------


def test_a_row_has_the_same_key_alone_and_in_a_batch() -> None:
    batch = columns(50)
    keys = row_keys(batch, b"v1:")
    assert all(row_keys(one_row(batch, i), b"v1:") == [keys[i]] for i in range(50))
    tensor = InputBatch(n_rows=6, tensor=np.arange(36, dtype=np.float32).reshape(6, 3, 2))
    keys = row_keys(tensor, b"")
    assert all(row_keys(one_row(tensor, i), b"") == [keys[i]] for i in range(6))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(2**63), 2**63 - 1),
            st.text(max_size=8),
        ),
        min_size=2,
        max_size=20,
    )
)
def test_the_one_row_path_computes_the_batch_hash(rows: list[tuple[float, int, str]]) -> None:
    batch = InputBatch(
        n_rows=len(rows),
        columns={
            "f": np.array([r[0] for r in rows], dtype=np.float64),
            "i": np.array([r[1] for r in rows], dtype=np.int64),
            "s": np.array([r[2] for r in rows], dtype=object),
        },
    )
    hashes = row_hashes(batch)
    for i in range(len(rows)):
        np.testing.assert_array_equal(row_hashes(one_row(batch, i))[0], hashes[i])


def test_distinct_rows_get_distinct_keys_and_versions_their_own() -> None:
    batch = columns(20_000, seed=1)
    keys = row_keys(batch, b"v1:")
    distinct_rows = {
        tuple(str(v[i]) for v in (batch.columns or {}).values()) for i in range(20_000)
    }
    assert len(set(keys)) == len(distinct_rows)
    assert not set(keys) & set(row_keys(batch, b"v2:"))


def test_column_order_does_not_matter_but_names_and_dtypes_do() -> None:
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    key = row_keys(InputBatch(n_rows=2, columns={"a": a, "b": b}), b"")
    assert row_keys(InputBatch(n_rows=2, columns={"b": b, "a": a}), b"") == key
    assert row_keys(InputBatch(n_rows=2, columns={"a": b, "b": a}), b"") != key
    assert row_keys(InputBatch(n_rows=2, columns={"a": a, "c": b}), b"") != key
    as_f32 = {"a": a.astype(np.float32), "b": b}
    assert row_keys(InputBatch(n_rows=2, columns=as_f32), b"") != key


def test_hashing_a_big_request_is_vectorised() -> None:
    batch = columns(200_000, seed=2)
    started = time.perf_counter()
    keys = row_keys(batch, b"sha256:abc:")
    assert len(keys) == 200_000 and len(keys[0]) == len(b"sha256:abc:") + 16
    assert time.perf_counter() - started < 2.0  # a per-row Python loop takes several seconds


# -- PredictionCache over the local backend --------------------------------------------------


def model(batch: InputBatch) -> np.ndarray:
    """Two outputs per row (like predict_proba), from the amount column."""
    assert batch.columns is not None
    amount = batch.columns["amount"]
    return np.stack([amount, -amount], axis=1)


async def answer(cache: PredictionCache, digest: str, batch: InputBatch) -> tuple[np.ndarray, int]:
    lookup = await cache.lookup(digest, batch)
    computed = None if lookup.misses is None else model(lookup.misses)
    return await cache.complete(lookup, computed), lookup.hit_count


def test_rows_seen_before_are_hits_and_only_misses_are_computed() -> None:
    async def main() -> None:
        cache = PredictionCache("d", LocalCache(max_entries=1000, ttl_s=60))
        first = columns(10)
        out, hits = await answer(cache, "sha256:1", first)
        assert hits == 0
        np.testing.assert_array_equal(out, model(first))
        out, hits = await answer(cache, "sha256:1", first)
        assert hits == 10
        np.testing.assert_array_equal(out, model(first))
        new = columns(5, seed=9).columns or {}
        order = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]  # rows 0-4 of ``first`` between new ones
        mixed = InputBatch(
            n_rows=10,
            columns={
                k: np.concatenate([v[:5], new[k]])[order] for k, v in (first.columns or {}).items()
            },
        )
        lookup = await cache.lookup("sha256:1", mixed)
        assert lookup.hit_count == 5 and lookup.misses is not None
        assert lookup.misses.n_rows == 5
        out = await cache.complete(lookup, model(lookup.misses))
        np.testing.assert_array_equal(out, model(mixed))
        assert (await cache.lookup("sha256:2", first)).hit_count == 0  # another version
        stats = cache.stats()
        assert (stats.hits, stats.misses, stats.errors) == (15, 25, 0)

    asyncio.run(main())


def test_local_entries_expire_and_are_bounded() -> None:
    async def main() -> None:
        cache = PredictionCache("d", LocalCache(max_entries=5, ttl_s=0.05))
        await answer(cache, "sha256:1", columns(10))
        assert (await cache.lookup("sha256:1", columns(10))).hit_count == 5  # LRU kept 5
        await asyncio.sleep(0.1)
        assert (await cache.lookup("sha256:1", columns(10))).hit_count == 0

    asyncio.run(main())


def test_cached_rows_do_not_pin_the_batch_output() -> None:
    async def main() -> None:
        backend = LocalCache(max_entries=10, ttl_s=60)
        big = np.zeros((1000, 2))
        await backend.put([b"k"], big[:1])
        _, rows = await backend.get([b"k"])
        assert rows is not None and rows.base is not big

    asyncio.run(main())


class Broken:
    async def get(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        raise ConnectionError(f"cache down: {len(keys)} keys not read")

    async def put(self, keys: list[bytes], rows: np.ndarray) -> None:
        raise ConnectionError(f"cache down: {len(keys)} keys, {len(rows)} rows not written")


def test_a_failing_backend_means_computing_not_failing() -> None:
    async def main() -> None:
        backend: CacheBackend = Broken()
        cache = PredictionCache("d", backend)
        batch = columns(4)
        out, hits = await answer(cache, "sha256:1", batch)
        np.testing.assert_array_equal(out, model(batch))
        assert hits == 0 and cache.stats().errors == 2

    asyncio.run(main())


# -- the Redis backend -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        np.array([1.5, -2.0, np.nan]),
        np.arange(6, dtype=np.int32).reshape(3, 2),
        np.array([True, False]),
        np.array(["yes", "no", "maybe"], dtype=object),
        np.array(["a", "bb"]),
        np.arange(8, dtype=np.float32).reshape(2, 2, 2),
    ],
)
def test_rows_survive_the_redis_encoding(rows: np.ndarray) -> None:
    encoded = encode_rows(rows)
    assert encoded is not None and len(encoded) == len(rows)
    decoded = decode_rows(encoded)
    expected = rows.astype(str) if rows.dtype == object else rows
    np.testing.assert_array_equal(decoded, expected)
    assert decode_rows(encoded[1:2]).tolist() == expected[1:2].tolist()


def test_outputs_that_are_not_plain_values_are_not_sent_to_redis() -> None:
    assert encode_rows(np.array([{"a": 1}, None], dtype=object)) is None


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    return client


def test_redis_cache_hits_misses_and_expiry(redis_client: redis.Redis) -> None:
    from redis.asyncio import Redis

    digest = f"sha256:test-{uuid.uuid4().hex}"

    async def main() -> None:
        client = Redis.from_url(REDIS_URL)
        try:
            cache = PredictionCache("d", RedisCache(client, ttl_s=30))
            batch = columns(20)
            out, hits = await answer(cache, digest, batch)
            assert hits == 0
            out, hits = await answer(cache, digest, batch)
            assert hits == 20
            np.testing.assert_array_equal(out, model(batch))
            lookup = await cache.lookup(digest, columns(20, seed=5))
            assert lookup.hit_count == 0
        finally:
            await client.aclose()

    asyncio.run(main())
    keys = redis_client.keys(f"modelyard:pred:{digest}:*".encode())
    assert len(keys) == 20
    assert 0 < redis_client.pttl(keys[0]) <= 30_000
    redis_client.delete(*keys)
    redis_client.close()
