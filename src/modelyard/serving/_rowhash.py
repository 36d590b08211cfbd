"""128-bit hashes of a request's rows, computed column by column, never row by row.

Every input becomes 64-bit words per row: numbers, booleans and dates by their bytes
(the batch is already cast to the signature's dtypes, so the same row always has the same
bytes), strings and other objects by pandas' vectorised SipHash (``hash_array``). The
words are salted by input name, dtype and position, mixed (splitmix64) and XOR-folded per
row, twice with different seeds (and SipHash keys), for 128 bits. A 1-row request computes
the same numbers with plain integers (no dozen numpy calls on 1-element arrays), so a row
gets the same key whether it came alone or in a batch of thousands.

Example:
    >>> batch = InputBatch(n_rows=2, columns={"x": np.array([1.0, 2.0])})
    >>> keys = row_keys(batch, b"p:")
    >>> len(keys), len(keys[0])
    (2, 18)
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd

from modelyard.serving._types import InputBatch

__all__ = ["row_hashes", "row_keys"]

_SEEDS = (
    (np.uint64(0x9E3779B97F4A7C15), "modelyard-row-k1"),
    (np.uint64(0xD1B54A32D192ED03), "modelyard-row-k2"),
)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << 64) - 1


def row_keys(batch: InputBatch, prefix: bytes) -> list[bytes]:
    """One ``prefix`` + 16-byte key per row of ``batch``."""
    if batch.n_rows == 1:
        return [prefix + struct.pack("<2Q", *_one_row(_inputs(batch)))]
    hashes = row_hashes(batch)  # (n, 2) uint64
    raw = hashes.view(np.uint8).reshape(batch.n_rows, 16)
    if prefix:
        head = np.broadcast_to(np.frombuffer(prefix, np.uint8), (batch.n_rows, len(prefix)))
        raw = np.concatenate([head, raw], axis=1)
    width = raw.shape[1]
    keys = np.ascontiguousarray(raw).view(np.dtype((np.void, width))).ravel().tolist()
    return cast(list[bytes], keys)


def row_hashes(batch: InputBatch) -> np.ndarray:
    """A ``(n_rows, 2)`` uint64 array: the 128-bit hash of each row."""
    inputs = _inputs(batch)
    if batch.n_rows == 1:
        return np.array([_one_row(inputs)], dtype=np.uint64)
    out = np.empty((batch.n_rows, 2), dtype=np.uint64)
    numeric = [(name, v) for name, v in inputs if v.dtype.kind not in _TEXT]
    text = [(name, v) for name, v in inputs if v.dtype.kind in _TEXT]
    fixed = [_number_words(name, v, batch.n_rows) for name, v in numeric]
    for half, (seed, key) in enumerate(_SEEDS):
        parts = fixed + [_text_words(name, v, batch.n_rows, key) for name, v in text]
        if not parts:
            out[:, half] = _mix(np.full(batch.n_rows, seed, dtype=np.uint64))
            continue
        words = np.concatenate([w for w, _ in parts], axis=1) if len(parts) > 1 else parts[0][0]
        salts = np.concatenate([s for _, s in parts]) ^ seed
        out[:, half] = _mix(np.bitwise_xor.reduce(_mix(words + salts), axis=1) ^ seed)
    return out


def _inputs(batch: InputBatch) -> list[tuple[str, np.ndarray]]:
    if batch.tensor is not None:
        return [("", np.asarray(batch.tensor))]
    columns: Mapping[str, np.ndarray] = batch.columns or {}
    return [(name, np.asarray(columns[name])) for name in sorted(columns)]


def _one_row(inputs: list[tuple[str, np.ndarray]]) -> list[int]:
    """:func:`row_hashes` of a 1-row batch in plain integers: the same numbers, without
    the fixed cost of a dozen numpy calls on 1-element arrays."""
    numeric: list[tuple[int, int]] = []
    for name, values in inputs:
        if values.dtype.kind not in _TEXT:
            raw = np.ascontiguousarray(values).tobytes()
            raw += b"\0" * (-len(raw) % 8)
            words = struct.unpack(f"<{len(raw) // 8}Q", raw)
            numeric += zip(
                words, _int_salts(f"{name}\0{values.dtype.str}", len(words)), strict=True
            )
    out = []
    for seed, key in _SEEDS:
        pairs = list(numeric)
        for name, values in inputs:
            if values.dtype.kind in _TEXT:
                words = _text_words(name, values, 1, key)[0][0].tolist()
                pairs += zip(words, _int_salts(f"{name}\0text", len(words)), strict=True)
        acc, plain = 0, int(seed)
        for word, salt in pairs:
            acc ^= _mix_int((word + (salt ^ plain)) & _MASK)
        out.append(_mix_int(acc ^ plain) if pairs else _mix_int(plain))
    return out


_TEXT = "OUS"


def _number_words(name: str, values: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Numbers, booleans, dates: their bytes as 64-bit words, salted by name, dtype, place."""
    raw = np.ascontiguousarray(values).reshape(rows, -1).view(np.uint8)
    pad = -raw.shape[1] % 8
    if pad:
        raw = np.concatenate([raw, np.zeros((rows, pad), np.uint8)], axis=1)
    words = raw.view(np.uint64)
    return words, _salts(f"{name}\0{values.dtype.str}", words.shape[1])


def _text_words(
    name: str, values: np.ndarray, rows: int, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Strings and objects: pandas' SipHash of each value."""
    flat = values.reshape(rows, -1)
    hashed = [
        pd.util.hash_array(flat[:, j].astype(object), hash_key=key, categorize=False)
        for j in range(flat.shape[1])
    ]
    words = np.stack(hashed, axis=1)
    return words, _salts(f"{name}\0text", words.shape[1])


@functools.lru_cache(maxsize=4096)
def _salts(label: str, count: int) -> np.ndarray:
    base = np.uint64(_text_word(label))
    return _mix(np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN + base)


@functools.lru_cache(maxsize=4096)
def _text_word(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8, person=b"modelyard-rows").digest()
    return int.from_bytes(digest, "little")


@functools.lru_cache(maxsize=4096)
def _int_salts(label: str, count: int) -> tuple[int, ...]:
    return tuple(_salts(label, count).tolist())


def _mix_int(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    mixed: np.ndarray = z ^ (z >> np.uint64(31))
    return mixed
