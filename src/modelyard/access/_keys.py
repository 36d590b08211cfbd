"""API keys in the metadata database: create, list, revoke, verify.

A key reads ``myd_<id>_<secret>``: the 8-hex-digit id finds its row, the 43-character secret
(32 random bytes, ``secrets.token_urlsafe(32)``) proves possession. Only the sha256 of the
whole key is stored. A password needs a slow hash (bcrypt, argon2) because it can be guessed;
a 256-bit random secret cannot, so a fast hash is as safe and keeps verification cheap on
every request.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from modelyard._ids import now_ms
from modelyard.access._types import KEY_PREFIX, ApiKey, Scope, parse_scopes
from modelyard.errors import (
    ApiKeyNotFoundError,
    AuthenticationError,
    ConflictError,
    ValidationError,
)
from modelyard.store import Database
from modelyard.store._schema import api_keys

__all__ = ["KeyStore"]

_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")
_NO_HASH = "0" * 64  # compared against when the id is unknown, so both paths take as long


class KeyStore:
    """API keys with scopes.

    :meth:`verify` keeps the keys it verified against the database in an in-process cache
    for ``cache_ttl_s`` seconds (default 5), so a busy server checks a key with one hash and
    one constant-time comparison instead of a query per request. The price: a key revoked
    by another process keeps working here for up to ``cache_ttl_s`` seconds (revoking through
    this store takes effect at once). ``last_used_at`` is written on those database checks,
    so it is accurate to within the TTL without a write per request. ``0`` turns the cache off.

    Example:
        >>> key, plaintext = keys.create("ci", [Scope.PREDICT])
        >>> keys.verify(plaintext).allows(Scope.PREDICT)
        True
    """

    def __init__(self, db: Database, *, cache_ttl_s: float = 5.0) -> None:
        self.db = db
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[ApiKey, str, float]] = {}  # id -> key, hash, expiry
        self._lock = threading.Lock()

    def create(self, name: str, scopes: Iterable[Scope | str]) -> tuple[ApiKey, str]:
        """Store a new key; returns it with its plaintext, which is never shown again."""
        name = name.strip() if isinstance(name, str) else ""
        if not 0 < len(name) <= 255:
            raise ValidationError("an API key name has 1 to 255 characters")
        chosen = parse_scopes(scopes)
        now = now_ms()
        for _ in range(5):  # 8 hex digits: a clash is rare, and only costs a retry
            key_id = secrets.token_hex(4)
            plaintext = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
            row = {
                "id": key_id,
                "name": name,
                "key_hash": _hash(plaintext),
                "scopes": sorted(s.value for s in chosen),
                "created_at": now,
            }
            try:
                with self.db.write() as conn:
                    conn.execute(api_keys.insert().values(**row))
            except DBIntegrityError:
                continue
            return _key(row), plaintext
        raise ConflictError("could not find a free API key id in 5 tries; try again")

    def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
            return [_key(r._mapping) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (or ``myd_<id>`` prefix); revoking it again changes nothing."""
        key_id = key_id.removeprefix(f"{KEY_PREFIX}_")
        with self.db.write() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise ApiKeyNotFoundError(key_id)
            values = dict(row._mapping)
            if values["revoked_at"] is None:
                values["revoked_at"] = now_ms()
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=values["revoked_at"])
                )
        with self._lock:
            self._cache.pop(key_id, None)
        return _key(values)

    def verify(self, plaintext: str | None) -> ApiKey:
        """The active key ``plaintext`` is, else AuthenticationError.

        Missing, malformed, unknown, wrong and revoked keys all get the same message, and the
        hash comparison is constant-time, so a caller learns nothing about which part was
        wrong.
        """
        if not plaintext:
            raise AuthenticationError("an API key is required")
        match = _KEY.match(plaintext)
        if match is None:
            raise _invalid()
        key_id, digest = match.group(1), _hash(plaintext)
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and cached[2] > time.monotonic():
            if hmac.compare_digest(cached[1], digest):
                return cached[0]
            raise _invalid()
        with self.db.read() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        stored = row.key_hash if row is not None else _NO_HASH
        if not hmac.compare_digest(stored, digest) or row is None or row.revoked_at is not None:
            with self._lock:
                self._cache.pop(key_id, None)
            raise _invalid()
        key = self._touch(dict(row._mapping))
        if self.cache_ttl_s > 0:
            with self._lock:
                self._cache[key_id] = (key, stored, time.monotonic() + self.cache_ttl_s)
        return key

    def any_active(self) -> bool:
        """Whether at least one key is not revoked."""
        with self.db.read() as conn:
            found = conn.execute(
                select(api_keys.c.id).where(api_keys.c.revoked_at.is_(None)).limit(1)
            ).first()
        return found is not None

    def _touch(self, values: dict[str, Any]) -> ApiKey:
        values["last_used_at"] = now_ms()
        with self.db.write() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == values["id"])
                .values(last_used_at=values["last_used_at"])
            )
        return _key(values)


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _invalid() -> AuthenticationError:
    return AuthenticationError("invalid or revoked API key")


def _key(values: Any) -> ApiKey:
    return ApiKey(
        id=values["id"],
        name=values["name"],
        prefix=f"{KEY_PREFIX}_{values['id']}",
        scopes=frozenset(Scope(s) for s in values["scopes"]),
        created_at=values["created_at"],
        revoked_at=values.get("revoked_at"),
        last_used_at=values.get("last_used_at"),
    )
