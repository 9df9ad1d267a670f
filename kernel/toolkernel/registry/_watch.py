"""Telling that the registry changed: cheaply to code that polls it, at once in process."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable

from toolkernel.registry._db import Database

__all__ = ["ChangeListeners", "RegistryWatcher"]

log = logging.getLogger("toolkernel.registry")

_TOOL_COLUMNS = 3
"""The first columns of `_SIGNATURE`, which describe the tool set."""
# Every tool change appends a catalog snapshot or a tool version (rows are never
# removed or edited); every status write stamps `updated_at` with the time. The memory
# store is left out on purpose: its writes change no tool and no status.
_SIGNATURE = """
    SELECT (SELECT coalesce(max(id), 0) FROM catalog_snapshots),
           (SELECT count(*) FROM tool_versions),
           (SELECT count(*) FROM tools WHERE deleted_at IS NOT NULL),
           (SELECT count(*) FROM server_status),
           (SELECT total(updated_at) FROM server_status)
"""


class RegistryWatcher:
    """Says cheaply whether the registry changed; get one from `ToolRegistry.watch()`.

    Each check reads SQLite's `PRAGMA data_version` on the registry's connection, which
    moves when any other connection (another process, another `ToolRegistry`) commits
    and reads no table. The content is read again only after a commit.

    Which changes count:

    - `token()`: tools, catalogs and server statuses, whoever wrote them, this registry
      included. Memory-store writes do not count.
    - `tools_token()`: tools and catalogs only; server statuses and memory do not count.
    - `changed_elsewhere()`: any commit by another connection, memory writes included.
      This registry's own writes do not count: whoever made them knows already.

    A watcher holds no resource of its own; it stops working when its registry closes
    (its calls then raise `RegistryError`).
    """

    def __init__(self, db: Database) -> None:
        """Watch the registry behind `db`; `changed_elsewhere()` counts from now."""
        self._db = db
        self._content_key: tuple[int, int] | None = None
        self._tokens = ("", "")
        with db.read() as conn:
            self._seen_version = _data_version(conn)

    def token(self) -> str:
        """Return 16 hex digits that change when tools, catalogs or server statuses do."""
        return self._current()[0]

    def tools_token(self) -> str:
        """Return 16 hex digits that change when the tools or catalogs do (not statuses)."""
        return self._current()[1]

    def changed_elsewhere(self) -> bool:
        """Return whether another connection committed since the last call (or `watch()`).

        Reads no table, so it suits a tight poll; use `tools_token()` to tell whether the
        tools themselves moved.
        """
        with self._db.read() as conn:
            version = _data_version(conn)
            changed = version != self._seen_version
            self._seen_version = version
        return changed

    def _current(self) -> tuple[str, str]:
        with self._db.read() as conn:
            # data_version misses this connection's own commits; the commit count adds them.
            key = (_data_version(conn), self._db.commits)
            if key != self._content_key:
                row = tuple(conn.execute(_SIGNATURE).fetchone())
                self._tokens = (_digest(row), _digest(row[:_TOOL_COLUMNS]))
                self._content_key = key
            return self._tokens


class ChangeListeners:
    """Callbacks told, in the writer's thread, that this process changed the registry."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def add(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call `listener()` after each change; return a function that stops it (idempotent)."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def notify(self) -> None:
        """Call every listener; one that fails is logged (the change is committed anyway)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("a registry change listener failed")


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _digest(row: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(row).encode()).hexdigest()[:16]
