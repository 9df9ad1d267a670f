"""Content-addressed blobs: tool sources, `.wasm` files and compiled-module caches.

A blob lives at `<home>/blobs/sha256/<first two hex digits>/<sha256>`. Writing is atomic
(a temporary file renamed into place), so a reader never sees half a blob, and two
processes writing the same content simply write the same file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from toolkernel.errors import RegistryError

__all__ = ["BlobStore"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Blobs under one folder, named by the sha256 of their content."""

    def __init__(self, root: Path) -> None:
        """Use `root` (`<home>/blobs/sha256`); it is created on the first `put`."""
        self.root = root

    def path(self, sha: str) -> Path:
        """Return where the blob `sha` lives (whether or not it exists).

        Raises:
            RegistryError: `sha` is not 64 lowercase hex digits.
        """
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            msg = f"{sha!r} is not a sha256 blob id; pass the 64 hex digits put_blob returned"
            raise RegistryError(msg)
        return self.root / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store `data` and return its sha256 hex digest; storing it twice is a no-op."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, data)
        except OSError as exc:
            msg = f"cannot store blob {sha} under {self.root}: {exc}; check space and permissions"
            raise RegistryError(msg) from exc
        return sha

    def get(self, sha: str) -> bytes:
        """Return the content of blob `sha`, checked against its hash.

        Raises:
            RegistryError: There is no such blob, or its file no longer matches its hash.
        """
        target = self.path(sha)
        try:
            data = target.read_bytes()
        except FileNotFoundError as exc:
            msg = f"no blob {sha} under {self.root}; store it with put_blob first"
            raise RegistryError(msg) from exc
        if hashlib.sha256(data).hexdigest() != sha:
            msg = f"blob {sha} at {target} is corrupt (its content changed); store it again"
            raise RegistryError(msg)
        return data

    def has(self, sha: str) -> bool:
        """Return True if blob `sha` is stored."""
        return self.path(sha).exists()


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
