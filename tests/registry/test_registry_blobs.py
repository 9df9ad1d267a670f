import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkernel import RegistryError
from toolkernel.registry import ToolRegistry


@pytest.fixture
def registry(home: Path) -> Iterator[ToolRegistry]:
    """A registry in the shared `home` fixture's empty toolkernel home."""
    with ToolRegistry(home) as reg:
        yield reg


def test_blob_round_trips_under_its_sha256(registry: ToolRegistry) -> None:
    data = b"\x00asm\x01\x00\x00\x00"

    sha = registry.put_blob(data)

    assert sha == hashlib.sha256(data).hexdigest()
    assert registry.get_blob(sha) == data
    assert registry.blobs.path(sha) == registry.home / "blobs" / "sha256" / sha[:2] / sha
    assert registry.blobs.has(sha)


def test_storing_the_same_blob_twice_keeps_one_file(registry: ToolRegistry) -> None:
    sha = registry.put_blob(b"same")

    assert registry.put_blob(b"same") == sha
    assert [p.name for p in registry.blobs.path(sha).parent.iterdir()] == [sha]


def test_missing_blob_raises_registry_error(registry: ToolRegistry) -> None:
    with pytest.raises(RegistryError, match="put_blob first"):
        registry.get_blob("0" * 64)


@pytest.mark.parametrize("sha", ["../../etc/passwd", "A" * 64, "abc", "0" * 63 + "/"])
def test_blob_ids_that_are_not_sha256_are_refused(registry: ToolRegistry, sha: str) -> None:
    with pytest.raises(RegistryError, match="not a sha256 blob id"):
        registry.get_blob(sha)


def test_corrupt_blob_is_detected(registry: ToolRegistry) -> None:
    sha = registry.put_blob(b"original")
    registry.blobs.path(sha).write_bytes(b"tampered")

    with pytest.raises(RegistryError, match="corrupt"):
        registry.get_blob(sha)
