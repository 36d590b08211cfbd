"""The store layer: the metadata database and the content-addressed artifact store."""

from __future__ import annotations

from modelyard.store._artifacts import ArtifactStore, Blob, hash_file
from modelyard.store._db import Database
from modelyard.store._migrate import HEAD, current_revision, ensure_schema, upgrade

__all__ = [
    "HEAD",
    "ArtifactStore",
    "Blob",
    "Database",
    "current_revision",
    "ensure_schema",
    "hash_file",
    "upgrade",
]
