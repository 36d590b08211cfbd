"""The online store protocol: the latest feature values per entity, read at serving time.

A backend stores one record per (view, entity): every feature value of the entity's
latest row, serialised with orjson, and that row's event timestamp in microseconds since
the epoch (UTC). :class:`OnlineStore` does the encoding, the statuses and the max-age
check once, for every backend; a backend implements four primitives: ``_put`` (an atomic
"store unless what is stored is newer" upsert), ``_get``, ``_drop`` and ``close``.

Entity keys are encoded canonically: the JSON array of the key values in join-key order,
as orjson writes it (``(42, "eu")`` → ``b'[42,"eu"]'``). Integers of any width (Python,
NumPy, Arrow int8..uint64) give the same bytes for the same value; strings are JSON
strings. A float is not an integer (``1.0`` and ``1`` are different entities), and a key
given as a scalar instead of a tuple is taken as a one-value tuple.

Feature values come back as JSON types: Arrow lists as lists, decimals as floats,
timestamps as ISO-8601 strings, and NaN or infinity as ``None`` (orjson writes them as
``null``); a value JSON cannot hold (bytes) is refused with ValidationError.

Example:
    >>> with SqliteOnlineStore(tmp / "online.db") as store:
    ...     store.write("user_stats", table, keys=["user_id"], timestamp="event_timestamp")
    ...     got = store.read("user_stats", [(1,), (2,)], ["txn_count"])
    >>> got.values["txn_count"], got.statuses["txn_count"]
"""

from __future__ import annotations

import abc
import datetime as dt
import decimal
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import ValidationError

__all__ = ["EncodedRow", "FieldStatus", "OnlineRead", "OnlineStore", "encode_keys"]

EncodedRow = tuple[bytes, int, bytes]
"""What a backend stores: (entity key, event timestamp in µs since the epoch, values)."""

_VIEW = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)
_DUMPS = orjson.OPT_SERIALIZE_NUMPY
_MISSING: Any = object()


class FieldStatus(enum.StrEnum):
    """How a value was found, with Feast's names (``FieldStatus`` in its serving API)."""

    PRESENT = "PRESENT"
    NULL_VALUE = "NULL_VALUE"
    NOT_FOUND = "NOT_FOUND"
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


@dataclass(frozen=True, slots=True)
class OnlineRead:
    """The answer to :meth:`OnlineStore.read`, column by column.

    Every list has one entry per requested entity, in request order (duplicates
    included). A value is ``None`` unless its status is ``PRESENT``: a row older than the
    max age is not served, but its event timestamp is still given.

    Attributes:
        features: the requested feature names, in order.
        values: per feature, its values.
        statuses: per feature, the status of each value.
        event_timestamps: per entity, the event time of its stored row (UTC), or ``None``
            when the entity is not stored.
    """

    features: tuple[str, ...]
    values: Mapping[str, list[Any]]
    statuses: Mapping[str, list[FieldStatus]]
    event_timestamps: list[dt.datetime | None]

    def __len__(self) -> int:
        return len(self.event_timestamps)


def _check_view(view: str) -> str:
    if not isinstance(view, str) or not _VIEW.match(view):
        raise ValidationError(f"feature view name {view!r} must be a Python identifier (max 63)")
    return view


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError


def _dumps(value: Any, what: str) -> bytes:
    try:
        return orjson.dumps(value, default=_default, option=_DUMPS)
    except orjson.JSONEncodeError as exc:
        raise ValidationError(f"cannot store {what} {value!r} in the online store: {exc}") from None


def encode_keys(entity_keys: pa.Table | Sequence[Any]) -> list[bytes]:
    """The canonical bytes of each entity key, in order (see the module docstring).

    Args:
        entity_keys: a table whose columns are the join keys in join-key order, or a
            sequence of key tuples (a scalar is a one-value tuple).
    """
    if isinstance(entity_keys, pa.Table):
        if entity_keys.num_columns == 0:
            raise ValidationError("the entity key table has no columns")
        columns = [column.to_pylist() for column in entity_keys.columns]
        return [_dumps(key, "entity key") for key in zip(*columns, strict=True)]
    return [
        _dumps(key if isinstance(key, tuple | list) else (key,), "entity key")
        for key in entity_keys
    ]


def _micros(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // _MICRO


def _timestamps(rows: pa.Table, timestamp: str) -> list[int]:
    column = rows.column(timestamp)
    if not pa.types.is_timestamp(column.type):
        raise ValidationError(
            f"event timestamp column {timestamp!r} is {column.type}, not a timestamp"
        )
    if column.null_count:
        raise ValidationError(f"event timestamp column {timestamp!r} has {column.null_count} nulls")
    micros = pc.cast(column, pa.timestamp("us", column.type.tz), safe=False)
    return micros.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]


def _encode_rows(rows: pa.Table, keys: Sequence[str], timestamp: str) -> list[EncodedRow]:
    if isinstance(keys, str):
        raise ValidationError(f"keys must be a list of column names, not the string {keys!r}")
    names = rows.column_names
    missing = [c for c in (*keys, timestamp) if c not in names]
    if not keys or missing:
        raise ValidationError(
            f"rows to write lack the column(s) {', '.join(missing) or '(no keys given)'} "
            f"(columns: {', '.join(names)})"
        )
    features = [n for n in names if n not in keys and n != timestamp]
    if not features:
        raise ValidationError("rows to write have no feature columns besides keys and timestamp")
    for key in keys:
        if rows.column(key).null_count:
            raise ValidationError(f"join key column {key!r} has nulls")
    stamps = _timestamps(rows, timestamp)
    entity = encode_keys(rows.select(list(keys)))
    columns = [rows.column(n).to_pylist() for n in features]
    data = [
        _dumps(dict(zip(features, row, strict=True)), "row") for row in zip(*columns, strict=True)
    ]
    return list(zip(entity, stamps, data, strict=True))


def _cutoff(max_age: dt.timedelta | None, now: dt.datetime | None) -> int | None:
    if max_age is None or max_age == dt.timedelta(0):
        return None
    if max_age < dt.timedelta(0):
        raise ValidationError(f"max_age cannot be negative (got {max_age})")
    return _micros(now or dt.datetime.now(dt.UTC)) - max_age // _MICRO


class OnlineStore(abc.ABC):
    """Latest feature values per (view, entity), written by materialization and read by
    the feature server. Safe to share between threads; a context manager closes it."""

    def write(self, view: str, rows: pa.Table, *, keys: Sequence[str], timestamp: str) -> int:
        """Upsert the latest row of each entity; a stored row is replaced only by a row
        whose event timestamp is the same or newer, so replays and late batches never
        overwrite newer values with older ones.

        Args:
            view: the feature view's name.
            rows: key columns, the event timestamp column (naive means UTC) and the
                feature columns (every other column).
            keys: the join key columns, in the view's join-key order (reads use it too).
            timestamp: the event timestamp column.

        Returns:
            How many rows were written (rows older than what is stored are not).
        """
        _check_view(view)
        encoded = _encode_rows(rows, keys, timestamp)
        return self._put(view, encoded) if encoded else 0

    def write_encoded(self, view: str, rows: Sequence[EncodedRow]) -> int:
        """Like :meth:`write`, for rows already encoded as the store keeps them (key bytes
        from :func:`encode_keys`, event time in µs, the values as a JSON object)."""
        _check_view(view)
        return self._put(view, list(rows)) if rows else 0

    def read(
        self,
        view: str,
        entity_keys: pa.Table | Sequence[tuple[Any, ...]],
        features: Sequence[str],
        *,
        max_age: dt.timedelta | None = None,
        now: dt.datetime | None = None,
    ) -> OnlineRead:
        """The stored values of ``features`` for each entity, in request order.

        Args:
            view: the feature view's name.
            entity_keys: key tuples, or a table of the key columns, in join-key order.
            features: the feature names to return.
            max_age: rows older than this at ``now`` are ``OUTSIDE_MAX_AGE`` (inclusive
                bound); ``None`` or zero means no limit, as a view's ttl of zero.
            now: the time to measure age against (naive means UTC); default: now.
        """
        _check_view(view)
        if isinstance(features, str):
            raise ValidationError(f"features must be a list of names, not the string {features!r}")
        cutoff = _cutoff(max_age, now)
        keys = encode_keys(entity_keys)
        found = self._get(view, list(dict.fromkeys(keys))) if keys else {}
        decoded = {key: (ts, orjson.loads(data)) for key, (ts, data) in found.items()}
        rows: list[dict[str, Any]] = []  # {} where the entity's row is not served
        held: list[FieldStatus | None] = []  # the status of every feature of such rows
        stamps: list[dt.datetime | None] = []
        for key in keys:
            hit = decoded.get(key)
            if hit is None:
                rows.append({})
                held.append(FieldStatus.NOT_FOUND)
                stamps.append(None)
                continue
            ts, row = hit
            stale = cutoff is not None and ts < cutoff
            rows.append({} if stale else row)
            held.append(FieldStatus.OUTSIDE_MAX_AGE if stale else None)
            stamps.append(_EPOCH + dt.timedelta(microseconds=ts))
        names = tuple(features)
        served = held.count(None) == len(held)
        present = [FieldStatus.PRESENT] * len(rows)  # shared by the columns all present
        values: dict[str, list[Any]] = {}
        statuses: dict[str, list[FieldStatus]] = {}
        for name in names:
            got = [row.get(name, _MISSING) for row in rows]
            if served and None not in got and _MISSING not in got:  # the common case
                values[name], statuses[name] = got, present
            else:
                values[name], statuses[name] = _column(got, held)
        return OnlineRead(names, values, statuses, stamps)

    @abc.abstractmethod
    def _put(self, view: str, rows: list[EncodedRow]) -> int:
        """Store each row unless the stored row of its key has a newer timestamp, in
        order, atomically per row; return how many rows were stored."""

    @abc.abstractmethod
    def _get(self, view: str, keys: list[bytes]) -> Mapping[bytes, tuple[int, bytes]]:
        """The (timestamp, values) stored under each of the distinct ``keys`` found."""

    def delete_view(self, view: str) -> None:
        """Forget every row of ``view`` (nothing happens when it has none)."""
        self._drop(_check_view(view))

    @abc.abstractmethod
    def _drop(self, view: str) -> None:
        """Remove every row of ``view``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _column(got: list[Any], held: list[FieldStatus | None]) -> tuple[list[Any], list[FieldStatus]]:
    """One feature's values and statuses where some entity is missing, stale or null."""
    statuses = [
        status if status is not None else _status(value)
        for status, value in zip(held, got, strict=True)
    ]
    return [None if value is _MISSING else value for value in got], statuses


def _status(value: Any) -> FieldStatus:
    if value is _MISSING:
        return FieldStatus.NOT_FOUND
    return FieldStatus.NULL_VALUE if value is None else FieldStatus.PRESENT
