"""Access control: API keys with scopes, stored hashed in the metadata database."""

from __future__ import annotations

from modelyard.access._keys import KeyStore
from modelyard.access._types import ApiKey, Scope

__all__ = ["ApiKey", "KeyStore", "Scope"]
