"""Export registry tools as a bundle: a folder, or the same folder as a `.tar.gz`.

The layout::

    toolkernel-bundle.json      {"format": "toolkernel-bundle", "format_version": 1,
                                 "exported_at": ..., "toolkernel_version": ...,
                                 "tools": [{"name", "kind", "version", "content_hash", "path"}]}
    tools/<namespace.tool>/     the current version, as a tool folder
    tools/<namespace.tool>/.history/<n>/
                                with history=True: version n as a tool folder
    tools/<namespace.tool>/.history/<n>.json
                                its record: created_at, note, author, rollback_of,
                                content_hash

`.history` is hidden on purpose: a bundle's tool folder read on its own (hot reload, a
plain import) sees only the current version.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._version import __version__
from toolkernel.bundles._folder import write_tool_folder
from toolkernel.errors import BundleError, ToolNotFound

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = ["BUNDLE_FILE", "BUNDLE_FORMAT", "HISTORY_DIR", "export_tools"]

BUNDLE_FILE = "toolkernel-bundle.json"
BUNDLE_FORMAT = "toolkernel-bundle"
HISTORY_DIR = ".history"


def export_tools(
    registry: ToolRegistry, names: str | Iterable[str], path: Path, *, history: bool = False
) -> Path:
    """Write tools (qualified names, or whole namespaces such as `local`) as a bundle.

    Args:
        registry: Where the tools are stored.
        names: `local.word_count`, or `local` for every tool of that namespace.
        path: A folder that does not exist or is empty, or a file ending in `.tar.gz`.
        history: Also write every earlier version, so an import replays it.

    Returns:
        The bundle's path.

    Raises:
        ToolNotFound: A name is neither a registry tool nor a namespace.
        BundleError: `path` is a folder that is not empty, or an existing file.
    """
    versions = _chosen(registry, [names] if isinstance(names, str) else list(names))
    path = Path(path)
    archive = path.name.endswith((".tar.gz", ".tgz"))
    if path.exists() and (archive or any(path.iterdir())):
        msg = f"{path} exists and is not an empty folder; choose a new path"
        raise BundleError(msg, path=str(path))
    if not archive:
        _write_bundle(registry, versions, path, history=history)
        return path
    with tempfile.TemporaryDirectory(prefix="toolkernel-export-") as work:
        folder = Path(work) / "bundle"
        _write_bundle(registry, versions, folder, history=history)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as tar:
            for item in sorted(folder.rglob("*")):
                tar.add(item, arcname=item.relative_to(folder).as_posix(), recursive=False)
    return path


def _chosen(registry: ToolRegistry, names: list[str]) -> list[ToolVersion]:
    current = {version.name: version for version in registry.registry_tools()}
    chosen: dict[str, ToolVersion] = {}
    for name in names:
        if name in current:
            chosen[name] = current[name]
            continue
        in_namespace = [v for n, v in current.items() if n.partition(".")[0] == name]
        if not in_namespace:
            known = ", ".join(sorted(current)) or "none"
            msg = f"nothing to export as {name!r}: no such tool or namespace; tools: {known}"
            raise ToolNotFound(msg, tool=name)
        chosen |= {version.name: version for version in in_namespace}
    return [chosen[name] for name in sorted(chosen)]


def _write_bundle(
    registry: ToolRegistry, versions: list[ToolVersion], folder: Path, *, history: bool
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for version in versions:
        tool_dir = folder / "tools" / version.name
        write_tool_folder(registry, version, tool_dir)
        if history:
            for old in registry.tool_versions(version.name)[:-1]:
                _write_old_version(registry, old, tool_dir / HISTORY_DIR / str(old.version))
        entries.append(
            {
                "name": version.name,
                "kind": version.kind,
                "version": version.version,
                "content_hash": version.content_hash,
                "path": f"tools/{version.name}",
            }
        )
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": 1,
        "exported_at": time.time(),
        "toolkernel_version": __version__,
        "history": history,
        "tools": entries,
    }
    (folder / BUNDLE_FILE).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _write_old_version(registry: ToolRegistry, version: ToolVersion, folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    write_tool_folder(registry, version, folder)
    record = {
        "version": version.version,
        "created_at": version.created_at,
        "note": version.note,
        "author": version.author,
        "rollback_of": version.rollback_of,
        "content_hash": version.content_hash,
    }
    record_path = folder.with_name(f"{version.version}.json")
    record_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
