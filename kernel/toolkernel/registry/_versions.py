"""Registry tools (WASM, script, pipeline, skill) as immutable, numbered versions.

A tool is named `namespace.tool` (`local.primes`). Each create or update appends a
version holding a manifest: a JSON object with the tool's description, schemas, limits,
policy and the sha256 of every blob it needs (sources, the built `.wasm`). Versions are
never edited or removed: a rollback appends a copy of an old manifest, and a delete
appends a tombstone (a copy of the deleted manifest marked `"deleted": true`), so
history survives anything and shows when a tool was deleted. The newest version is the
current one; `tools.deleted_at` says, without reading versions, whether it is a delete.

Every write also replaces the namespace's rows in the search index (and appends a
catalog snapshot), so `search_tools` finds registry tools as it finds MCP tools.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from toolkernel._spec import JSONObject, ToolSpec
from toolkernel.errors import RegistryError, ToolNotFound
from toolkernel.registry import _catalog
from toolkernel.registry._index import replace_source

__all__ = [
    "DELETED_KEY",
    "TOOL_KINDS",
    "ToolVersion",
    "append_tombstone",
    "append_version",
    "check_tool_name",
    "current_versions",
    "exists",
    "find_version",
    "is_deleted",
    "live_version_before",
    "namespaces",
    "undelete",
    "version_history",
]

TOOL_KINDS = ("wasm", "script", "pipeline", "skill")
"""The kinds of tool the registry stores (MCP tools live in the catalog cache)."""

DELETED_KEY = "deleted"
"""The manifest key (`true`) that marks a version as a tombstone: the tool's delete."""

_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SPEC_KEYS = ("description", "input_schema", "output_schema", "annotations", "title")


@dataclass(frozen=True, repr=False)
class ToolVersion:
    """One immutable version of a registry tool.

    Attributes:
        name: The qualified name, `namespace.tool`.
        version: Its number, counting from 1 for each tool.
        kind: `wasm`, `script`, `pipeline` or `skill`.
        manifest: What the version is: description, schemas, language, limits, policy
            and the sha256 of each blob it uses.
        content_hash: The sha256 of the manifest's canonical JSON; equal hashes mean
            equal tools.
        created_at: When it was written, as Unix time.
        note: Why it was made (free text; rollbacks say which version they restore).
        author: Who made it (a user name, or an agent's).
        rollback_of: The version whose content this one restores, for a rollback or
            a restore.
    """

    name: str
    version: int
    kind: str
    manifest: JSONObject
    content_hash: str
    created_at: float
    note: str = ""
    author: str = ""
    rollback_of: int | None = None

    def __repr__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_at))
        extra = f", rollback_of={self.rollback_of}" if self.rollback_of else ""
        extra += ", deleted" if self.deleted else ""
        note = f", note={self.note!r}" if self.note else ""
        pins = f", installs {' '.join(self.dependencies)}" if self.dependencies else ""
        return f"<ToolVersion {self.name} v{self.version} ({self.kind}, {when}{note}{extra}{pins})>"

    @property
    def dependencies(self) -> list[str]:
        """The exact dependency versions this version installs; [] for none.

        A script tool's pins (`six==1.17.0`, `left-pad@1.3.0`), recorded when it was built.
        """
        pins = self.manifest.get("resolved")
        return [str(pin) for pin in pins] if isinstance(pins, list) else []

    @property
    def deleted(self) -> bool:
        """Whether this version is the tool's delete (a tombstone).

        A tombstone's manifest copies the deleted version's, so it still says what was
        deleted.
        """
        return self.manifest.get(DELETED_KEY) is True

    @property
    def namespace(self) -> str:
        """The part of `name` before the dot (`local`)."""
        return self.name.partition(".")[0]

    @property
    def tool(self) -> str:
        """The part of `name` after the dot (`primes`)."""
        return self.name.partition(".")[2]

    def spec(self) -> ToolSpec:
        """Return the catalog entry of this version, as bindings and search see it."""
        manifest = self.manifest
        return ToolSpec(
            source=self.namespace,
            name=self.tool,
            description=manifest.get("description") or "",
            input_schema=manifest.get("input_schema") or {"type": "object"},
            output_schema=manifest.get("output_schema"),
            annotations=manifest.get("annotations"),
            title=manifest.get("title"),
            kind=self.kind,
        )


def check_tool_name(name: str) -> tuple[str, str]:
    """Split a qualified tool name into (namespace, tool), refusing anything unsafe.

    Both parts must be Python identifiers of at most 64 ASCII characters that are not
    keywords, so a name can never hold a path (`..`, `/`) or break a binding.

    Raises:
        RegistryError: The name is not `namespace.tool` with safe parts.
    """
    if not isinstance(name, str):
        msg = f"a tool name must be a str like 'local.primes', not {type(name).__name__}"
        raise RegistryError(msg)
    namespace, dot, tool = name.partition(".")
    for part in (namespace, tool):
        if not dot or not _PART.fullmatch(part) or keyword.iskeyword(part):
            msg = (
                f"invalid tool name {name!r}: use 'namespace.tool' where both parts are "
                "Python identifiers (letters, digits, '_'; at most 64 characters; not a "
                "keyword), e.g. 'local.prime_generator'"
            )
            raise RegistryError(msg)
    return namespace, tool


def canonical_hash(kind: str, manifest: JSONObject) -> str:
    """Return the content hash of a version: sha256 of its kind and canonical manifest."""
    try:
        text = json.dumps([kind, manifest], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        msg = f"a tool manifest must be JSON (dicts, lists, strings, numbers): {exc}"
        raise RegistryError(msg) from exc
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def append_version(
    conn: sqlite3.Connection,
    name: str,
    *,
    kind: str,
    manifest: JSONObject,
    note: str,
    author: str,
    rollback_of: int | None = None,
) -> tuple[ToolVersion, bool]:
    """Append a version of `name` (creating or restoring the tool); the caller holds a write.

    A manifest equal to the current version's appends nothing, so re-running a cell that
    creates a tool does not grow its history.

    Returns:
        The current version, and whether it is new.
    """
    namespace, _ = check_tool_name(name)
    if kind not in TOOL_KINDS:
        msg = f"unknown tool kind {kind!r}; use one of {', '.join(TOOL_KINDS)}"
        raise RegistryError(msg)
    _check_manifest(name, manifest)
    if DELETED_KEY in manifest:
        msg = (
            f"the manifest of {name!r} may not hold {DELETED_KEY!r}: it marks a delete; "
            "use delete_tool to delete a tool"
        )
        raise RegistryError(msg)
    digest = canonical_hash(kind, manifest)
    row = conn.execute("SELECT deleted_at FROM tools WHERE name = ?", (name,)).fetchone()
    current = _latest(conn, name)
    if current is not None and current.content_hash == digest and rollback_of is None:
        if row is not None and row[0] is not None:
            conn.execute("UPDATE tools SET deleted_at = NULL WHERE name = ?", (name,))
            reindex_namespace(conn, namespace)
        return current, False
    number = 1 if current is None else current.version + 1
    now = time.time()
    conn.execute(
        "INSERT INTO tools (name, namespace, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET deleted_at = NULL",
        (name, namespace, now),
    )
    conn.execute(
        "INSERT INTO tool_versions (name, version, kind, manifest_json, content_hash,"
        " created_at, note, author, rollback_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (name, number, kind, _dump(manifest), digest, now, note, author, rollback_of),
    )
    reindex_namespace(conn, namespace)
    version = ToolVersion(name, number, kind, manifest, digest, now, note, author, rollback_of)
    return version, True


def append_tombstone(conn: sqlite3.Connection, name: str, *, note: str, author: str) -> ToolVersion:
    """Delete `name` by appending a tombstone version; the caller holds a write.

    Raises:
        ToolNotFound: No registry tool has that name.
        RegistryError: The tool is already deleted (nothing is written).
    """
    namespace, _ = check_tool_name(name)
    current = _latest(conn, name)
    if current is None:
        raise _unknown_tool(conn, name)
    if _is_deleted(conn, name):
        msg = (
            f"tool {name!r} is already deleted (version {current.version}); "
            f"restore_tool({name!r}) brings it back"
        )
        raise RegistryError(msg)
    manifest = {**current.manifest, DELETED_KEY: True}
    digest = canonical_hash(current.kind, manifest)
    number, now = current.version + 1, time.time()
    conn.execute("UPDATE tools SET deleted_at = ? WHERE name = ?", (now, name))
    conn.execute(
        "INSERT INTO tool_versions (name, version, kind, manifest_json, content_hash,"
        " created_at, note, author, rollback_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (name, number, current.kind, _dump(manifest), digest, now, note, author),
    )
    reindex_namespace(conn, namespace)
    return ToolVersion(name, number, current.kind, manifest, digest, now, note, author)


def live_version_before(conn: sqlite3.Connection, name: str) -> ToolVersion:
    """Return the newest version of `name` that is not a delete (what a restore brings back).

    Raises:
        ToolNotFound: No registry tool has that name.
    """
    check_tool_name(name)
    for row in conn.execute(_SELECT + " WHERE name = ? ORDER BY version DESC", (name,)):
        version = _version(row)
        if not version.deleted:
            return version
    raise _unknown_tool(conn, name)


def undelete(conn: sqlite3.Connection, name: str) -> None:
    """Clear the deleted mark of `name`, whose newest version is live; the caller holds a write.

    Only a delete from before tombstones (a mark with no tombstone version) needs this.
    """
    namespace, _ = check_tool_name(name)
    conn.execute("UPDATE tools SET deleted_at = NULL WHERE name = ?", (name,))
    reindex_namespace(conn, namespace)


def is_deleted(conn: sqlite3.Connection, name: str) -> bool:
    """Whether registry tool `name` exists and is deleted."""
    return _is_deleted(conn, name)


def _is_deleted(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT deleted_at FROM tools WHERE name = ?", (name,)).fetchone()
    return row is not None and row[0] is not None


def version_history(conn: sqlite3.Connection, name: str) -> list[ToolVersion]:
    """Return every version of `name`, oldest first.

    Raises:
        ToolNotFound: No such registry tool.
    """
    check_tool_name(name)
    rows = conn.execute(_SELECT + " WHERE name = ? ORDER BY version", (name,)).fetchall()
    if not rows:
        raise _unknown_tool(conn, name)
    return [_version(row) for row in rows]


_MAX_VERSION = 2**63 - 1


def find_version(conn: sqlite3.Connection, name: str, version: int | None) -> ToolVersion:
    """Return version `version` of `name`, or its current version when `version` is None.

    Raises:
        ToolNotFound: No such tool, or no such version (the message lists the range).
    """
    check_tool_name(name)
    if version is None:
        found = _latest(conn, name)
    elif not 1 <= version <= _MAX_VERSION:  # SQLite cannot even bind past 64 bits
        found = None
    else:
        row = conn.execute(_SELECT + " WHERE name = ? AND version = ?", (name, version)).fetchone()
        found = None if row is None else _version(row)
    if found is not None:
        return found
    latest = _latest(conn, name)
    if latest is None:
        raise _unknown_tool(conn, name)
    msg = f"tool {name!r} has no version {version}; available: 1-{latest.version}"
    raise ToolNotFound(msg, tool=name, version=version)


def current_versions(
    conn: sqlite3.Connection, namespace: str | None, *, include_deleted: bool = False
) -> list[ToolVersion]:
    """Return the current version of every tool (of one namespace), sorted by name."""
    rows = conn.execute(_SELECT_CURRENT, (namespace, namespace, include_deleted))
    return [_version(row) for row in rows]


def exists(conn: sqlite3.Connection, name: str) -> bool:
    """Whether a registry tool `name` has ever been made (deleted ones count)."""
    return conn.execute("SELECT 1 FROM tools WHERE name = ?", (name,)).fetchone() is not None


def namespaces(conn: sqlite3.Connection) -> list[str]:
    """Return every namespace that has held a registry tool, sorted."""
    return [row[0] for row in conn.execute("SELECT DISTINCT namespace FROM tools ORDER BY 1")]


def reindex_namespace(conn: sqlite3.Connection, namespace: str) -> None:
    """Make the search index and catalog snapshots show the namespace's live tools."""
    specs = [version.spec() for version in current_versions(conn, namespace)]
    catalog = _catalog.prepare_catalog(namespace, specs)
    if _catalog.latest_hash(conn, namespace) != catalog.hash:
        _catalog.insert_snapshot(conn, catalog)
    replace_source(conn, namespace, catalog.rows)


_SELECT = (
    "SELECT name, version, kind, manifest_json, content_hash, created_at, note, author,"
    " rollback_of FROM tool_versions"
)


_SELECT_CURRENT = (
    "SELECT name, version, kind, manifest_json, content_hash, created_at, note, author,"
    " rollback_of FROM tool_versions WHERE (name, version) IN"
    " (SELECT name, max(version) FROM tool_versions GROUP BY name)"
    " AND name IN (SELECT name FROM tools WHERE (? IS NULL OR namespace = ?)"
    " AND (? OR deleted_at IS NULL)) ORDER BY name"
)


def _version(row: tuple[Any, ...]) -> ToolVersion:
    name, number, kind, manifest_json, digest, created_at, note, author, rollback_of = row
    manifest = json.loads(manifest_json)
    return ToolVersion(name, number, kind, manifest, digest, created_at, note, author, rollback_of)


def _latest(conn: sqlite3.Connection, name: str) -> ToolVersion | None:
    row = conn.execute(_SELECT + " WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
    found = row.fetchone()
    return None if found is None else _version(found)


def _unknown_tool(conn: sqlite3.Connection, name: str) -> ToolNotFound:
    namespace = name.partition(".")[0]
    rows = conn.execute("SELECT name FROM tools WHERE namespace = ?", (namespace,))
    known = [row[0] for row in rows]
    shown = ", ".join(sorted(known)[:20]) or "none"
    msg = f"no registry tool {name!r}; tools in {namespace!r}: {shown}"
    return ToolNotFound(msg, tool=name)


def _check_manifest(name: str, manifest: JSONObject) -> None:
    if not isinstance(manifest, dict):
        msg = f"the manifest of {name!r} must be a dict, not {type(manifest).__name__}"
        raise RegistryError(msg)
    schema = manifest.get("input_schema", {"type": "object"})
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        msg = (
            f"the input_schema of {name!r} must be a JSON Schema object with "
            '"type": "object" (tool arguments are always an object)'
        )
        raise RegistryError(msg)
    for key in _SPEC_KEYS:
        if key in ("description", "title") and not isinstance(manifest.get(key) or "", str):
            msg = f"the {key} of {name!r} must be a str"
            raise RegistryError(msg)


def _dump(manifest: JSONObject) -> str:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
