"""API keys: creation, hashing, verification, revocation and the verify cache, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from modelyard import Workspace
from modelyard.access import KeyStore, Scope
from modelyard.errors import (
    ApiKeyNotFoundError,
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from modelyard.store._schema import api_keys


def test_create_returns_the_plaintext_once_in_the_documented_form(workspace: Workspace) -> None:
    key, plaintext = workspace.keys.create("ci", [Scope.PREDICT])
    assert re.fullmatch(r"myd_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", plaintext)
    assert plaintext.startswith(f"{key.prefix}_")
    assert key.prefix == f"myd_{key.id}"
    assert key.scopes == frozenset({Scope.PREDICT})
    assert key.revoked_at is None


def test_only_the_sha256_of_the_key_is_stored(workspace: Workspace) -> None:
    key, plaintext = workspace.keys.create("ci", ["predict"])
    with workspace.db.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key.id)).one()
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    secret = plaintext[len("myd_12345678_") :]
    assert secret not in str(tuple(row))


def test_a_created_key_verifies(workspace: Workspace) -> None:
    key, plaintext = workspace.keys.create("ci", ["predict"])
    verified = workspace.keys.verify(plaintext)
    assert verified.id == key.id
    assert verified.last_used_at is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # wrong secret
        lambda k: "myd_00000000" + k[12:],  # unknown id
        lambda k: k[:20],  # malformed
        lambda k: k.replace("myd_", "sk_", 1),  # wrong prefix
        lambda k: k + " ",
    ],
)
def test_a_wrong_key_fails_with_one_message(
    workspace: Workspace, mangle: Callable[[str], str]
) -> None:
    _, plaintext = workspace.keys.create("ci", ["predict"])
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API key$"):
        workspace.keys.verify(mangle(plaintext))


@pytest.mark.parametrize("missing", [None, ""])
def test_a_missing_key_fails(workspace: Workspace, missing: str | None) -> None:
    with pytest.raises(AuthenticationError, match="required"):
        workspace.keys.verify(missing)


def test_a_wrong_secret_fails_even_when_the_key_id_is_cached(workspace: Workspace) -> None:
    _, plaintext = workspace.keys.create("ci", ["predict"])
    workspace.keys.verify(plaintext)
    with pytest.raises(AuthenticationError):
        workspace.keys.verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))


def test_a_key_revoked_here_fails_at_once(workspace: Workspace) -> None:
    key, plaintext = workspace.keys.create("ci", ["predict"])
    workspace.keys.verify(plaintext)
    workspace.keys.revoke(key.id)
    with pytest.raises(AuthenticationError):
        workspace.keys.verify(plaintext)


def test_a_key_revoked_elsewhere_fails_once_the_cache_ttl_passed(workspace: Workspace) -> None:
    server = KeyStore(workspace.db, cache_ttl_s=0.2)
    key, plaintext = workspace.keys.create("ci", ["predict"])
    server.verify(plaintext)
    KeyStore(workspace.db).revoke(key.id)
    time.sleep(0.3)
    with pytest.raises(AuthenticationError):
        server.verify(plaintext)


def test_verified_keys_are_served_from_the_cache_within_the_ttl(workspace: Workspace) -> None:
    server = KeyStore(workspace.db, cache_ttl_s=60)
    key, plaintext = workspace.keys.create("ci", ["predict"])
    server.verify(plaintext)
    with workspace.db.write() as conn:
        conn.execute(api_keys.delete())  # gone from the database, still in the cache
    assert server.verify(plaintext).id == key.id


def test_revoking_twice_keeps_the_first_time(workspace: Workspace) -> None:
    key, _ = workspace.keys.create("ci", ["predict"])
    first = workspace.keys.revoke(key.id)
    again = workspace.keys.revoke(key.prefix)
    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at


def test_revoking_an_unknown_key_is_not_found(workspace: Workspace) -> None:
    with pytest.raises(ApiKeyNotFoundError, match="'deadbeef' does not exist") as info:
        workspace.keys.revoke("deadbeef")
    assert isinstance(info.value, NotFoundError)


def test_an_unknown_scope_lists_the_valid_ones_and_creates_nothing(workspace: Workspace) -> None:
    with pytest.raises(ValidationError, match="unknown scope 'root': use predict, admin"):
        workspace.keys.create("ci", ["predict", "root"])
    assert workspace.keys.list() == []


@pytest.mark.parametrize(("name", "scopes"), [("ci", []), ("", ["predict"]), (" ", ["admin"])])
def test_a_key_needs_a_name_and_a_scope(workspace: Workspace, name: str, scopes: list[str]) -> None:
    with pytest.raises(ValidationError):
        workspace.keys.create(name, scopes)


def test_admin_implies_predict_but_not_the_reverse(workspace: Workspace) -> None:
    admin, _ = workspace.keys.create("ops", [Scope.ADMIN])
    predict, _ = workspace.keys.create("app", [Scope.PREDICT])
    assert admin.allows(Scope.PREDICT) and admin.allows("admin")
    assert predict.allows("predict")
    assert not predict.allows(Scope.ADMIN)


def test_any_active_follows_creation_and_revocation(workspace: Workspace) -> None:
    assert not workspace.keys.any_active()
    key, _ = workspace.keys.create("ci", ["predict"])
    assert workspace.keys.any_active()
    workspace.keys.revoke(key.id)
    assert not workspace.keys.any_active()


def test_list_shows_revoked_keys_too(workspace: Workspace) -> None:
    first, _ = workspace.keys.create("a", ["predict"])
    second, _ = workspace.keys.create("b", ["admin", "predict"])
    workspace.keys.revoke(first.id)
    listed = {k.id: k for k in workspace.keys.list()}
    assert set(listed) == {first.id, second.id}
    assert listed[first.id].revoked_at is not None
    assert listed[second.id].scopes == frozenset({Scope.ADMIN, Scope.PREDICT})


def test_to_dict_never_holds_the_secret(workspace: Workspace) -> None:
    key, plaintext = workspace.keys.create("ci", ["predict"])
    as_dict = key.to_dict()
    assert as_dict["prefix"] == key.prefix and as_dict["scopes"] == ["predict"]
    assert plaintext not in str(as_dict)
