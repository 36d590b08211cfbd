"""The content-addressed artifact store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelyard.errors import ArtifactNotFoundError, IntegrityError, ValidationError
from modelyard.store import ArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_bytes_are_named_by_their_sha256(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"hello")
    assert blob.digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert blob.size == 5
    assert store.get_bytes(blob.digest) == b"hello"


def test_storing_the_same_bytes_twice_stores_one_blob(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes(b"same")
    store.put_bytes(b"same")
    blobs = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_files_stream_in_and_out(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 20_000)
    blob = store.put_file(source)
    out = store.get_file(blob.digest, tmp_path / "copy.bin")
    assert out.read_bytes() == source.read_bytes()


def test_a_write_leaves_no_temporary_files(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes(b"x" * 1000)
    names = [p.name for p in (tmp_path / "artifacts").rglob("*")]
    assert not [n for n in names if n.startswith(".tmp")]


def test_tampered_blob_is_refused_naming_the_digest(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"original")
    Path(store.location(blob.digest)).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=blob.digest):
        store.get_bytes(blob.digest)
    with pytest.raises(IntegrityError):
        store.get_file(blob.digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_blob_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError):
        store.get_bytes("sha256:" + "0" * 64)


def test_malformed_digest_is_a_validation_error(store: ArtifactStore) -> None:
    with pytest.raises(ValidationError):
        store.get_bytes("md5:abc")


def test_trees_round_trip_and_verify_every_file(store: ArtifactStore, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    tree = store.put_tree(folder)
    assert set(store.tree_manifest(tree.digest)) == {"a.txt", "sub/b.txt"}
    out = store.get_tree(tree.digest, tmp_path / "restored")
    assert (out / "sub" / "b.txt").read_text() == "b"
    inner = store.tree_manifest(tree.digest)["sub/b.txt"].digest
    Path(store.location(inner)).write_bytes(b"evil")
    with pytest.raises(IntegrityError, match=inner):
        store.get_tree(tree.digest, tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_a_plain_blob_is_not_a_tree(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"not json")
    with pytest.raises(ValidationError, match="not a folder"):
        store.tree_manifest(blob.digest)


def test_any_fsspec_url_works(tmp_path: Path) -> None:
    store = ArtifactStore("memory://modelyard-test")
    blob = store.put_bytes(b"in memory")
    assert store.get_bytes(blob.digest) == b"in memory"
