"""ToolRegistry: the single source of truth, on SQLite plus content-addressed blobs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from toolkernel._spec import JSONObject, ToolSpec
from toolkernel.errors import RegistryError
from toolkernel.registry import _catalog, _history, _lookup, _memory, _search, _status, _versions
from toolkernel.registry._blobs import BlobStore
from toolkernel.registry._catalog import CatalogSnapshot
from toolkernel.registry._db import Database
from toolkernel.registry._diff import diff_versions
from toolkernel.registry._history import HISTORY_KEEP, MAX_HISTORY_LIMIT, CallRecord
from toolkernel.registry._index import replace_source
from toolkernel.registry._search import SearchHit
from toolkernel.registry._status import ServerStatus
from toolkernel.registry._versions import ToolVersion
from toolkernel.registry._watch import ChangeListeners, RegistryWatcher

__all__ = ["NewVersion", "ToolRegistry"]


@dataclass(frozen=True)
class NewVersion:
    """A version to record with `ToolRegistry.add_versions` (the arguments of `add_version`).

    Attributes:
        name: The tool's qualified name.
        kind: Its kind.
        manifest: Its manifest; the blobs it names are stored already.
        note: Why it was made.
        author: Who made it.
    """

    name: str
    kind: str
    manifest: JSONObject
    note: str = ""
    author: str = ""


class ToolRegistry:
    """The registry at `<home>/registry.db`, with blobs under `<home>/blobs/sha256/`.

    It keeps registry tools as immutable versions, caches each MCP server's catalog as
    versioned snapshots, publishes server status, looks tools up by name or by BM25
    search, and holds the memory store (JSON values per namespace). Several processes may
    open the same home at once; each sees the others' committed writes.

    Attributes:
        home: The toolkernel home folder.
        path: The database file, `<home>/registry.db`.
        blobs: The content-addressed blob store.
    """

    def __init__(self, home: Path) -> None:
        """Open the registry under `home`, creating the folder and database if needed.

        Raises:
            RegistryError: The database cannot be opened, or was written by a newer
                toolkernel.
        """
        self.home = Path(home)
        self.path = self.home / "registry.db"
        self.blobs = BlobStore(self.home / "blobs" / "sha256")
        self._db = Database(self.path)
        self._changes: RegistryWatcher | None = None  # made by the first change_count()
        self._change_count = 0
        self._change_lock = threading.Lock()
        self._tool_listeners = ChangeListeners()

    def close(self) -> None:
        """Close the database connection; later calls raise `RegistryError`."""
        self._db.close()

    def __enter__(self) -> ToolRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToolRegistry({self.home!r})"

    # -- MCP catalog cache -------------------------------------------------------------

    def save_catalog(self, source: str, specs: list[ToolSpec]) -> bool:
        """Store `specs` as the tool list of `source`, if it changed.

        A new snapshot is appended only when the catalog hash differs from the newest
        one; the search index is replaced in the same transaction.

        Returns:
            True if the catalog changed and a snapshot was stored.

        Raises:
            RegistryError: The specs are invalid (wrong source, duplicate names, not JSON)
                or the database failed. Nothing was written.
        """
        catalog = _catalog.prepare_catalog(source, list(specs))
        with self._db.write() as conn:
            if _catalog.latest_hash(conn, source) == catalog.hash:
                return False
            _catalog.insert_snapshot(conn, catalog)
            replace_source(conn, source, catalog.rows)
        return True

    def load_catalog(self, source: str) -> list[ToolSpec] | None:
        """Return the newest cached tool list of `source`, or None if it was never saved."""
        with self._db.read() as conn:
            return _catalog.latest_catalog(conn, source)

    def load_catalogs(self) -> dict[str, list[ToolSpec]]:
        """Return the newest cached tool list of every source (one query; kernel start)."""
        with self._db.read() as conn:
            return _catalog.latest_catalogs(conn)

    def catalog_hash(self, source: str) -> str | None:
        """Return the hash of the newest snapshot of `source`, or None."""
        with self._db.read() as conn:
            return _catalog.latest_hash(conn, source)

    def catalog_history(self, source: str) -> list[CatalogSnapshot]:
        """Return every snapshot of `source`, oldest first (empty if never saved)."""
        with self._db.read() as conn:
            return _catalog.snapshot_history(conn, source)

    # -- registry tools (versioned) ----------------------------------------------------

    def add_version(
        self,
        name: str,
        *,
        kind: str,
        manifest: JSONObject,
        note: str = "",
        author: str = "",
    ) -> ToolVersion:
        """Record a new version of registry tool `name` (`namespace.tool`) and return it.

        The first version creates the tool; a deleted tool comes back. A manifest equal
        to the current one records nothing and returns the current version. Blobs the
        manifest names must be stored first (`put_blob`).

        Raises:
            RegistryError: The name is unsafe, the kind unknown, the manifest not JSON,
                or the namespace is an MCP server's. Nothing was written.
        """
        with self._db.write() as conn:
            self._check_namespace_free(conn, name)
            version, _ = _versions.append_version(
                conn, name, kind=kind, manifest=manifest, note=note, author=author
            )
        self._tool_listeners.notify()
        return version

    def add_versions(self, versions: Sequence[NewVersion]) -> list[ToolVersion]:
        """Record several versions in one transaction: all of them, or none.

        Each is recorded as `add_version` records it, in order (several versions of one
        tool replay its history); the returned list holds each one's resulting current
        version.

        Raises:
            RegistryError: One is refused (as by `add_version`); nothing was written.
        """
        recorded = []
        with self._db.write() as conn:
            for new in versions:
                self._check_namespace_free(conn, new.name)
                version, _ = _versions.append_version(
                    conn,
                    new.name,
                    kind=new.kind,
                    manifest=new.manifest,
                    note=new.note,
                    author=new.author,
                )
                recorded.append(version)
        if recorded:
            self._tool_listeners.notify()
        return recorded

    def tool_versions(self, name: str) -> list[ToolVersion]:
        """Return every version of registry tool `name`, oldest first.

        Raises:
            ToolNotFound: No registry tool has that name.
        """
        with self._db.read() as conn:
            return _versions.version_history(conn, name)

    def tool_version(self, name: str, version: int | None = None) -> ToolVersion:
        """Return version `version` of `name`, or its current version when None.

        Raises:
            ToolNotFound: No such tool or version; the message gives the range.
        """
        with self._db.read() as conn:
            return _versions.find_version(conn, name, version)

    def rollback_tool(
        self, name: str, version: int, *, note: str | None = None, author: str = ""
    ) -> ToolVersion:
        """Make `version`'s content current again by appending a copy of it.

        History is never rewritten: the rollback is a new version whose `rollback_of`
        names the version it restores. Rolling a deleted tool back restores it.

        Raises:
            ToolNotFound: No such tool or version.
            RegistryError: `version` is a delete (a tombstone), which has no content
                to restore; the message names the versions that do.
        """
        with self._db.write() as conn:
            old = _versions.find_version(conn, name, version)
            if old.deleted:
                msg = (
                    f"version {version} of {name!r} is its delete, not content to roll back "
                    f"to; choose an earlier version, or restore_tool({name!r}) for the one "
                    "before the delete"
                )
                raise RegistryError(msg)
            restored, _ = _versions.append_version(
                conn,
                name,
                kind=old.kind,
                manifest=old.manifest,
                note=note if note is not None else f"rollback to version {version}",
                author=author,
                rollback_of=version,
            )
        self._tool_listeners.notify()
        return restored

    def diff_tool(self, name: str, a: int, b: int | None = None) -> str:
        """Return a unified diff of sources, schemas and policy from version `a` to `b`.

        `b` defaults to the current version; the diff is empty when they are equal.

        Raises:
            ToolNotFound: No such tool or version.
        """
        with self._db.read() as conn:
            old = _versions.find_version(conn, name, a)
            new = _versions.find_version(conn, name, b)
        return diff_versions(self.blobs, old, new)

    def delete_tool(self, name: str, *, note: str | None = None, author: str = "") -> ToolVersion:
        """Soft-delete registry tool `name` and return the delete, a new version.

        The tool leaves the catalog, the search index and every host's bindings; its
        history stays, ending in a tombstone version (`ToolVersion.deleted`) that copies
        the deleted manifest. `restore_tool`, `rollback_tool` or a new `add_version` of
        the same name brings it back, as a newer version.

        Raises:
            ToolNotFound: No registry tool has that name.
            RegistryError: The tool is already deleted, or `name` is an MCP server's tool
                (those come and go with their server). Nothing was written.
        """
        with self._db.write() as conn:
            self._check_registry_tool(conn, name, "delete")
            tombstone = _versions.append_tombstone(
                conn, name, note="deleted" if note is None else note, author=author
            )
        self._tool_listeners.notify()
        return tombstone

    def restore_tool(self, name: str, *, note: str | None = None, author: str = "") -> ToolVersion:
        """Bring back a deleted tool with the content it had when deleted.

        The restore is a new version, a copy of the newest version before the delete
        (`rollback_of` names it); `rollback_tool` restores an older one instead.

        Returns:
            The new current version.

        Raises:
            ToolNotFound: No registry tool has that name.
            RegistryError: The tool is not deleted, or `name` is an MCP server's tool.
        """
        with self._db.write() as conn:
            self._check_registry_tool(conn, name, "restore")
            if not _versions.is_deleted(conn, name):
                current = _versions.find_version(conn, name, None)
                msg = f"tool {name!r} is not deleted: its version {current.version} is current"
                raise RegistryError(msg)
            live = _versions.live_version_before(conn, name)
            if _versions.find_version(conn, name, None).version == live.version:
                _versions.undelete(conn, name)  # deleted by a mark alone, before tombstones
                restored = live
            else:
                restored, _ = _versions.append_version(
                    conn,
                    name,
                    kind=live.kind,
                    manifest=live.manifest,
                    note=note if note is not None else f"restored (version {live.version})",
                    author=author,
                    rollback_of=live.version,
                )
        self._tool_listeners.notify()
        return restored

    def registry_tools(
        self, namespace: str | None = None, *, include_deleted: bool = False
    ) -> list[ToolVersion]:
        """Return the current version of every registry tool (of one namespace), by name.

        Deleted tools are left out unless `include_deleted`; their current version is
        then their delete (`ToolVersion.deleted`), or an older one for a tool deleted by
        a version of toolkernel that wrote no tombstones.
        """
        with self._db.read() as conn:
            return _versions.current_versions(conn, namespace, include_deleted=include_deleted)

    def on_tools_changed(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call `listener()` after each change to the tools made through this registry.

        A version added, a rollback, a delete or a restore calls it in the writer's
        thread, after the commit, so an in-process host serves the change before the
        write returns. Other connections' changes (other processes) do not call it: poll
        `watch()` for those.

        Returns:
            A function that stops the calls.
        """
        return self._tool_listeners.add(listener)

    def watch(self) -> RegistryWatcher:
        """Return a new watcher that says cheaply when the registry changed.

        Its `token()` changes with the tools, catalogs and server statuses, and its
        `tools_token()` with the tools and catalogs, whoever wrote them; memory writes
        change neither. Its `changed_elsewhere()` says whether another connection
        (another process, another `ToolRegistry`) committed anything since its last
        call. Polling reads no table until something commits. A watcher needs no
        closing and stops working when this registry closes.
        """
        return RegistryWatcher(self._db)

    def change_count(self) -> int:
        """A number that changes whenever another connection (any process) commits.

        Cheap to poll (no table is read): a host compares it to notice tools created,
        rolled back or deleted elsewhere (the CLI, another kernel, the bridge's kernel).
        This registry's own writes do not change it. New code should poll a `watch()`
        watcher instead; this counts the `changed_elsewhere()` of one kept here.
        """
        with self._change_lock:
            if self._changes is None:
                self._changes = RegistryWatcher(self._db)
            elif self._changes.changed_elsewhere():
                self._change_count += 1
            return self._change_count

    def namespaces(self) -> list[str]:
        """Return every namespace that has held a registry tool, sorted."""
        with self._db.read() as conn:
            return _versions.namespaces(conn)

    def _check_registry_tool(self, conn: sqlite3.Connection, name: str, action: str) -> None:
        """Refuse to `action` an MCP server's tool with a message that says what to do."""
        if not isinstance(name, str) or _versions.exists(conn, name):
            return
        spec = _lookup.find_tool(conn, name)
        if spec is not None and spec.kind == "mcp":
            msg = (
                f"cannot {action} {name!r}: it is a tool of the MCP server {spec.source!r}, "
                "not a registry tool; its tools come and go with the server (remove it with "
                f"remove_server({spec.source!r}) or from mcp.json)"
            )
            raise RegistryError(msg)

    def _check_namespace_free(self, conn: sqlite3.Connection, name: str) -> None:
        namespace, _ = _versions.check_tool_name(name)
        if namespace in _versions.namespaces(conn):
            return
        if _catalog.latest_hash(conn, namespace) is not None:
            msg = (
                f"cannot create {name!r}: {namespace!r} is an MCP server's name; "
                "choose another namespace, e.g. 'local'"
            )
            raise RegistryError(msg)

    # -- server status ------------------------------------------------------------------

    def set_server_status(
        self,
        name: str,
        state: str,
        *,
        detail: str | None = None,
        tool_count: int | None = None,
    ) -> None:
        """Publish the state of server `name`, stamped with the current time.

        Raises:
            ValueError: `state` is not `connecting`, `connected`, `failed` or `disabled`.
        """
        _status.check_state(state)
        with self._db.write() as conn:
            _status.upsert_status(conn, name, state, detail, tool_count)

    def server_statuses(self) -> list[ServerStatus]:
        """Return the last published status of every server, sorted by name."""
        with self._db.read() as conn:
            return _status.all_statuses(conn)

    # -- memory -------------------------------------------------------------------------

    def memory_set(
        self, namespace: str, key: str, value: object, *, ttl: float | None = None
    ) -> None:
        """Store `value` under `key` in memory `namespace`, replacing what was there.

        Args:
            namespace: `user`, or `tool:<namespace.tool>` for a tool's own memory.
            key: A non-empty str of at most 256 characters.
            value: Anything JSON can hold, at most 1 MiB as compact JSON.
            ttl: Seconds until the entry expires; None keeps it until deleted.

        Raises:
            MemoryLimitError: The key, value or ttl is invalid, or the namespace already
                holds 10,000 keys and `key` is new. Nothing was written.
        """
        entry = _memory.encode_entry(namespace, key, value, ttl)
        with self._db.write() as conn:
            _memory.store_entry(conn, entry)

    def memory_get(self, namespace: str, key: str, default: Any = None) -> Any:
        """Return the value under `key` in `namespace`, or `default` if absent or expired.

        Values come back as JSON gives them: tuples as lists, dict keys as str.

        Raises:
            MemoryLimitError: The namespace or key is invalid.
        """
        with self._db.read() as conn:
            found, value = _memory.get_value(conn, namespace, key)
        return value if found else default

    def memory_delete(self, namespace: str, key: str) -> bool:
        """Delete `key` from `namespace`; return whether a live entry was there."""
        with self._db.write() as conn:
            return _memory.delete_key(conn, namespace, key)

    def memory_list(self, namespace: str, prefix: str = "") -> list[str]:
        """Return the live keys of `namespace` that start with `prefix` (literally), sorted."""
        with self._db.read() as conn:
            return _memory.list_keys(conn, namespace, prefix)

    def memory_purge(self) -> int:
        """Delete the expired entries of every namespace; return how many went.

        Writes already clear their own namespace, so this is only housekeeping.
        """
        with self._db.write() as conn:
            return _memory.purge_expired(conn)

    # -- call history -------------------------------------------------------------------

    def record_calls(self, records: list[CallRecord], *, keep: int = HISTORY_KEEP) -> None:
        """Append tool calls to the call history, keeping only the newest `keep` rows."""
        if records:
            with self._db.write() as conn:
                _history.record_calls(conn, records, keep=keep)

    def call_history(self, limit: int = 20, *, tool: str | None = None) -> list[CallRecord]:
        """Return the newest `limit` recorded tool calls (of `tool` only, if given).

        Raises:
            RegistryError: `limit` is not between 1 and `MAX_HISTORY_LIMIT`.
        """
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not (1 <= limit <= MAX_HISTORY_LIMIT)
        ):
            msg = f"limit must be an int from 1 to {MAX_HISTORY_LIMIT}, not {limit!r}"
            raise RegistryError(msg)
        with self._db.read() as conn:
            return _history.recent_calls(conn, limit, tool=tool)

    # -- lookups ------------------------------------------------------------------------

    def list_tools(
        self, source: str | None = None, *, sources: Collection[str] | None = None
    ) -> list[ToolSpec]:
        """Return the current tools, sorted by (source, name).

        Args:
            source: Only this source's tools.
            sources: Only these sources' tools; combined with `source`, their overlap.
                An empty collection selects nothing. A source may be given by its
                Python name (`my_server` for `my-server`).
        """
        wanted = _wanted_sources(source, sources)
        with self._db.read() as conn:
            return _lookup.list_tools(conn, _sources_param(conn, wanted))

    def get_tool(self, qualified_name: str) -> ToolSpec:
        """Return the tool named `server.tool`.

        Each part may be the name as the server spells it (`my-server.get-weather`) or
        its Python name, as under `tools` (`my_server.get_weather`); the comparison is
        case-sensitive.

        Raises:
            ToolNotFound: No such tool; the message suggests close names.
        """
        with self._db.read() as conn:
            spec = _lookup.find_tool(conn, qualified_name)
            if spec is None:
                raise _lookup.not_found(conn, qualified_name)
        return spec

    def search(
        self, query: str, *, limit: int = 10, sources: Collection[str] | None = None
    ) -> list[SearchHit]:
        """Return up to `limit` tools matching `query` by BM25, best first.

        Stop-words are ignored (so a query of only stop-words finds nothing), FTS5
        syntax in `query` is taken literally, and a tool whose name is the query ranks
        first. Any string is accepted.

        Args:
            query: What the tool should do, in words, or its name.
            limit: The most hits to return.
            sources: Only search these sources (original or Python names).
        """
        with self._db.read() as conn:
            return _search.search(conn, query, limit=limit, sources=_sources_param(conn, sources))

    # -- blobs --------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """Store `data` under `<home>/blobs/sha256/` and return its sha256 hex digest."""
        return self.blobs.put(data)

    def get_blob(self, sha: str) -> bytes:
        """Return the blob whose sha256 is `sha`.

        Raises:
            RegistryError: No such blob, or its file is corrupt.
        """
        return self.blobs.get(sha)


def _wanted_sources(source: str | None, sources: Collection[str] | None) -> Collection[str] | None:
    if isinstance(sources, str):
        sources = [sources]
    if source is None:
        return sources
    if sources is None:
        return [source]
    return [source] if source in sources else []


def _sources_param(conn: sqlite3.Connection, sources: Collection[str] | None) -> str | None:
    if sources is None:
        return None
    return _lookup.sources_param(_lookup.original_sources(conn, sources))
