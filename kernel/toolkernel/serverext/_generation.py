"""A cheap token that changes whenever the registry's tools, catalogs or statuses change."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

__all__ = ["GenerationWatcher"]

_TOOL_COLUMNS = 3
"""The first columns of `_SIGNATURE`, which describe the tool set."""
# Every tool change appends a catalog snapshot or a tool version (rows are never
# removed or edited); every status write stamps `updated_at` with the time.
_SIGNATURE = """
    SELECT (SELECT coalesce(max(id), 0) FROM catalog_snapshots),
           (SELECT count(*) FROM tool_versions),
           (SELECT count(*) FROM tools WHERE deleted_at IS NOT NULL),
           (SELECT count(*) FROM server_status),
           (SELECT total(updated_at) FROM server_status)
"""


class GenerationWatcher:
    """Computes the registry's generation token from its own read-only connection.

    SQLite's `PRAGMA data_version` changes on this connection whenever any other
    connection (any process, or this server's `ToolRegistry`) commits, and costs no
    table read; only then is the content signature read again. Memory-store writes
    change `data_version` but not the signature, so they do not change the token.
    """

    def __init__(self, database: Path) -> None:
        """Watch the registry database `database` (it must exist)."""
        self._conn = sqlite3.connect(
            f"{Path(database).resolve().as_uri()}?mode=ro",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        self._lock = threading.Lock()
        self._data_version: int | None = None
        self._tokens = ("", "")

    def token(self) -> str:
        """Return the current generation token (16 hex digits)."""
        return self._current()[0]

    def tools_token(self) -> str:
        """Return a token that changes with the tool set only (not with server statuses)."""
        return self._current()[1]

    def _current(self) -> tuple[str, str]:
        with self._lock:
            data_version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if data_version != self._data_version:
                row = tuple(self._conn.execute(_SIGNATURE).fetchone())
                self._tokens = (_digest(row), _digest(row[:_TOOL_COLUMNS]))
                self._data_version = data_version
            return self._tokens

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _digest(row: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(row).encode()).hexdigest()[:16]
