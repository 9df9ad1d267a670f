"""Unified diffs between two versions of a registry tool: sources, schemas and policy."""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkernel.registry._blobs import BlobStore
    from toolkernel.registry._versions import ToolVersion

__all__ = ["diff_versions"]

_SOURCE_KEY = "source"
_BINARY = "<binary, {size} bytes, sha256 {sha}>"


def diff_versions(blobs: BlobStore, old: ToolVersion, new: ToolVersion) -> str:
    """Return a unified diff from `old` to `new` (empty when their content is equal).

    Each source file is diffed as text under its path; the rest of the manifest
    (description, schemas, limits, policy, ...) is diffed as pretty-printed JSON.
    """
    if old.content_hash == new.content_hash:
        return ""
    parts: list[str] = []
    old_files = _files(blobs, old.manifest)
    new_files = _files(blobs, new.manifest)
    for path in sorted(old_files.keys() | new_files.keys()):
        parts += _unified(old_files.get(path), new_files.get(path), path, old, new)
    parts += _unified(_settings(old), _settings(new), "manifest.json", old, new)
    return "".join(parts)


def _unified(
    before: str | None, after: str | None, path: str, old: ToolVersion, new: ToolVersion
) -> list[str]:
    if before == after:
        return []
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a/{path} (v{old.version})" if before is not None else "/dev/null",
        tofile=f"b/{path} (v{new.version})" if after is not None else "/dev/null",
    )
    return [line if line.endswith("\n") else line + "\n" for line in lines]


def _files(blobs: BlobStore, manifest: dict[str, Any]) -> dict[str, str]:
    files = manifest.get(_SOURCE_KEY)
    if not isinstance(files, dict):
        return {}
    return {path: _text(blobs, sha) for path, sha in files.items()}


def _text(blobs: BlobStore, sha: str) -> str:
    data = blobs.get(sha)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _BINARY.format(size=len(data), sha=sha) + "\n"


def _settings(version: ToolVersion) -> str:
    rest = {k: v for k, v in version.manifest.items() if k != _SOURCE_KEY}
    rest["kind"] = version.kind
    return json.dumps(rest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
