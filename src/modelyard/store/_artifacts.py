"""A content-addressed artifact store over any fsspec filesystem.

Every blob lives at ``blobs/sha256/<ab>/<abcdef...>`` under the store's root and is named by
the sha256 of its bytes, so storing the same bytes twice is free and a digest recorded in the
metadata database pins exactly one content. Writes are atomic: on a local filesystem the
bytes go to a temporary name and are renamed into place; object stores (``s3://`` …) publish
an object atomically on upload. Every read re-hashes what it returns and raises
:class:`~modelyard.errors.IntegrityError` if the bytes no longer match.

A folder is stored as a *tree*: each file as a blob plus a JSON manifest blob mapping relative
paths to digests; the manifest's digest names the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from modelyard.errors import ArtifactNotFoundError, IntegrityError, ValidationError

__all__ = ["ArtifactStore", "Blob", "hash_file"]

_CHUNK = 1 << 20
_PREFIX = "sha256:"
_TREE_FORMAT = "modelyard.tree/1"


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its digest (``sha256:<hex>``) and size in bytes."""

    digest: str
    size: int


def _hex(digest: str) -> str:
    if not digest.startswith(_PREFIX) or len(digest) != len(_PREFIX) + 64:
        raise ValidationError(f"{digest!r} is not a sha256 digest (sha256:<64 hex digits>)")
    return digest[len(_PREFIX) :]


class ArtifactStore:
    """Blobs and trees named by their sha256, in a local folder or any fsspec URL.

    Example:
        >>> store = ArtifactStore(tempfile.mkdtemp())
        >>> blob = store.put_bytes(b"hello")
        >>> store.get_bytes(blob.digest)
        b'hello'
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self._fs: fsspec.AbstractFileSystem = fs
        self._root = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)

    def location(self, digest: str) -> str:
        """Where the blob with ``digest`` lives in the store's filesystem."""
        hex_ = _hex(digest)
        return f"{self._root}/blobs/sha256/{hex_[:2]}/{hex_}"

    def blob_url(self, digest: str) -> str:
        """``location`` as a URL that fsspec (and DuckDB, once the filesystem is
        registered) can open: a plain path for a local store."""
        location = self.location(digest)
        if self._local:
            return location
        protocol = self._fs.protocol
        return f"{protocol if isinstance(protocol, str) else protocol[0]}://{location}"

    @property
    def local_root(self) -> Path | None:
        """The folder of a local store; None for a remote one."""
        return Path(self._root) if self._local else None

    @property
    def protocol(self) -> str | None:
        """The fsspec protocol of a remote store; None for a local folder."""
        if self._local:
            return None
        protocol = self._fs.protocol
        return protocol if isinstance(protocol, str) else protocol[0]

    def open(self, digest: str) -> IO[bytes]:
        """Blob ``digest`` opened for reading, unverified (see :meth:`verify`): for readers
        that seek, such as Parquet's."""
        location = self.location(digest)
        try:
            handle: IO[bytes] = self._fs.open(location, "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(digest, location) from None
        return handle

    def verify(self, digest: str) -> None:
        """Check that blob ``digest`` is present and intact, without keeping its bytes."""
        location = self.location(digest)
        hasher = hashlib.sha256()
        try:
            with self._fs.open(location, "rb") as f:
                while chunk := f.read(_CHUNK):
                    hasher.update(chunk)
        except FileNotFoundError:
            raise ArtifactNotFoundError(digest, location) from None
        actual = _PREFIX + hasher.hexdigest()
        if actual != digest:
            raise IntegrityError(digest, actual, location)

    def exists(self, digest: str) -> bool:
        return bool(self._fs.exists(self.location(digest)))

    # -- writing -------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; returns its blob (a no-op if the same bytes are stored)."""
        digest = _PREFIX + hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._publish(digest, lambda f: f.write(data))
        return Blob(digest, len(data))

    def put_file(
        self, path: str | os.PathLike[str], *, move: bool = False, blob: Blob | None = None
    ) -> Blob:
        """Store the file at ``path`` (streamed: memory does not grow with its size).

        With ``move``, a local store renames the file into place instead of copying it
        (the file must be on the store's filesystem; it is gone afterwards either way).
        ``blob`` is the file's :func:`hash_file`, when the caller has it already.
        """
        blob = blob or hash_file(path)
        digest, size = blob.digest, blob.size
        if self.exists(digest):
            pass
        elif move and self._local:
            final = self.location(digest)
            os.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            try:
                os.replace(path, final)
            except OSError:  # another filesystem: copy instead
                self._publish(digest, lambda out: _copy_stream(path, out))
        else:
            self._publish(digest, lambda out: _copy_stream(path, out))
        if move and os.path.exists(path):
            os.unlink(path)
        return Blob(digest, size)

    def put_tree(self, folder: str | os.PathLike[str]) -> Blob:
        """Store every file under ``folder`` and a manifest of them; returns the manifest."""
        base = Path(folder)
        if not base.is_dir():
            raise ValidationError(f"{base} is not a folder")
        files = {}
        total = 0
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            blob = self.put_file(path)
            files[path.relative_to(base).as_posix()] = {"digest": blob.digest, "size": blob.size}
            total += blob.size
        manifest = json.dumps({"format": _TREE_FORMAT, "files": files}, sort_keys=True)
        blob = self.put_bytes(manifest.encode())
        return Blob(blob.digest, total)

    def _publish(self, digest: str, write: Any) -> None:
        final = self.location(digest)
        parent = final.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        if not self._local:  # object stores publish an upload atomically
            with self._fs.open(final, "wb") as f:
                write(f)
            return
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- reading -------------------------------------------------------------------------

    def get_bytes(self, digest: str) -> bytes:
        """The bytes of ``digest``, verified."""
        location = self.location(digest)
        try:
            with self._fs.open(location, "rb") as f:
                data: bytes = f.read()
        except FileNotFoundError:
            raise ArtifactNotFoundError(digest, location) from None
        actual = _PREFIX + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(digest, actual, location)
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy blob ``digest`` to ``dest``, verifying it on the way; nothing is left at
        ``dest`` if verification fails."""
        location = self.location(digest)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        try:
            with self._fs.open(location, "rb") as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            raise ArtifactNotFoundError(digest, location) from None
        actual = _PREFIX + hasher.hexdigest()
        if actual != digest:
            target.unlink(missing_ok=True)
            raise IntegrityError(digest, actual, location)
        return target

    def tree_manifest(self, digest: str) -> dict[str, Blob]:
        """The files of tree ``digest``: relative path to blob."""
        try:
            manifest = json.loads(self.get_bytes(digest))
            if manifest.get("format") != _TREE_FORMAT:
                raise ValueError("not a tree manifest")
            files = manifest["files"]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValidationError(f"artifact {digest} is not a folder (tree manifest)") from None
        return {path: Blob(meta["digest"], meta["size"]) for path, meta in files.items()}

    def get_tree(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Materialise tree ``digest`` under the new folder ``dest``, verifying every file.
        On any failure the partial folder is removed."""
        target = Path(dest)
        files = self.tree_manifest(digest)
        staging = Path(
            tempfile.mkdtemp(prefix=".tree-", dir=target.parent if target.parent.exists() else None)
        )
        try:
            for rel, blob in files.items():
                if rel.startswith("/") or ".." in Path(rel).parts:
                    raise ValidationError(f"tree {digest} names an unsafe path {rel!r}")
                self.get_file(blob.digest, staging / rel)
            shutil.move(str(staging), str(target))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


def hash_file(path: str | os.PathLike[str]) -> Blob:
    """The blob the file at ``path`` would be stored as: its sha256 digest and size."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return Blob(_PREFIX + hasher.hexdigest(), size)


def _copy_stream(path: str | os.PathLike[str], out: IO[bytes]) -> None:
    with open(path, "rb") as f:
        shutil.copyfileobj(f, out, _CHUNK)
