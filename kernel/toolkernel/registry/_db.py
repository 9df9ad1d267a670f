"""The registry's SQLite connection: pragmas, schema migrations and transactions.

Several processes (kernels, the CLI, the bridge) open the same `registry.db` at once, so
the database runs in WAL mode (readers never block the writer), every write starts with
`BEGIN IMMEDIATE` (a writer waits for the lock up front instead of failing half-way),
and a busy timeout bounds every wait.

The schema is a list of migration steps; `PRAGMA user_version` records how many have
been applied. A new feature appends a step and never edits an old one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from toolkernel.errors import RegistryError
from toolkernel.registry._index import reindex_identifiers

__all__ = ["BUSY_TIMEOUT_S", "MIGRATIONS", "Database", "MigrationStep"]

BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another process's lock before giving up."""

_V1_CATALOG_AND_SEARCH = (
    # One row per snapshot of a source's tools/list; the tools are one JSON blob so that
    # loading every catalog on kernel start is one short query. Rows are never updated.
    """
    CREATE TABLE catalog_snapshots (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        tool_count INTEGER NOT NULL,
        tools_json TEXT NOT NULL
    )
    """,
    "CREATE INDEX catalog_snapshots_by_source ON catalog_snapshots (source, id)",
    """
    CREATE TABLE server_status (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL
            CHECK (state IN ('connecting', 'connected', 'failed', 'disabled')),
        detail TEXT,
        tool_count INTEGER,
        updated_at REAL NOT NULL
    )
    """,
    # The current tool set of every source, one row per tool: it backs lookups and is
    # the external content of the FTS5 index. Rows are replaced per source, never edited.
    """
    CREATE TABLE tool_index (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        ident TEXT NOT NULL,
        name_key TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        name_text TEXT NOT NULL,
        source_text TEXT NOT NULL,
        desc_text TEXT NOT NULL,
        param_text TEXT NOT NULL,
        UNIQUE (source, name)
    )
    """,
    "CREATE INDEX tool_index_by_ident ON tool_index (ident)",
    "CREATE INDEX tool_index_by_name ON tool_index (name)",
    "CREATE INDEX tool_index_by_key ON tool_index (name_key)",
    """
    CREATE VIRTUAL TABLE tool_fts USING fts5 (
        name_text, source_text, desc_text, param_text,
        content='tool_index', content_rowid='id', tokenize='porter unicode61'
    )
    """,
    """
    CREATE TRIGGER tool_index_insert AFTER INSERT ON tool_index BEGIN
        INSERT INTO tool_fts (rowid, name_text, source_text, desc_text, param_text)
        VALUES (new.id, new.name_text, new.source_text, new.desc_text, new.param_text);
    END
    """,
    """
    CREATE TRIGGER tool_index_delete AFTER DELETE ON tool_index BEGIN
        INSERT INTO tool_fts (tool_fts, rowid, name_text, source_text, desc_text, param_text)
        VALUES ('delete', old.id, old.name_text, old.source_text, old.desc_text, old.param_text);
    END
    """,
    """
    CREATE TRIGGER tool_index_update AFTER UPDATE ON tool_index BEGIN
        INSERT INTO tool_fts (tool_fts, rowid, name_text, source_text, desc_text, param_text)
        VALUES ('delete', old.id, old.name_text, old.source_text, old.desc_text, old.param_text);
        INSERT INTO tool_fts (rowid, name_text, source_text, desc_text, param_text)
        VALUES (new.id, new.name_text, new.source_text, new.desc_text, new.param_text);
    END
    """,
)

_V2_TOOL_VERSIONS = (
    # One row per registry tool (WASM, script, pipeline, skill); `deleted_at` makes a
    # delete soft. Its versions are the truth: the current one is the newest.
    """
    CREATE TABLE tools (
        name TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        created_at REAL NOT NULL,
        deleted_at REAL
    )
    """,
    "CREATE INDEX tools_by_namespace ON tools (namespace)",
    # Versions are appended, never updated or deleted.
    """
    CREATE TABLE tool_versions (
        name TEXT NOT NULL REFERENCES tools (name),
        version INTEGER NOT NULL CHECK (version >= 1),
        kind TEXT NOT NULL,
        manifest_json TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        rollback_of INTEGER,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID
    """,
    """
    CREATE TRIGGER tool_versions_immutable BEFORE UPDATE ON tool_versions BEGIN
        SELECT RAISE(ABORT, 'tool versions are immutable; append a new version');
    END
    """,
    """
    CREATE TRIGGER tool_versions_kept BEFORE DELETE ON tool_versions BEGIN
        SELECT RAISE(ABORT, 'tool versions are never deleted; delete the tool instead');
    END
    """,
    # The memory store: JSON values per namespace, with an optional expiry time.
    """
    CREATE TABLE memory (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value_json TEXT NOT NULL,
        expires_at REAL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID
    """,
)

# A tool's identifier became the name its binding has (`_2fa_check`, not `2fa_check`):
# rows written before are given it, which SQL alone cannot compute.
_V3_BINDING_IDENTIFIERS: tuple[Callable[[sqlite3.Connection], None]] = (reindex_identifiers,)

_V4_CALL_HISTORY = (
    # One row per tool call made through a session (`registry/_history.py`); only the
    # newest are kept, so rows are deleted from the oldest end.
    """
    CREATE TABLE IF NOT EXISTS call_history (
        id INTEGER PRIMARY KEY,
        tool TEXT NOT NULL,
        arguments_bytes INTEGER NOT NULL,
        duration_s REAL NOT NULL,
        outcome TEXT NOT NULL
            CHECK (outcome IN ('ok', 'error', 'failed', 'cancelled', 'refused')),
        started_at REAL NOT NULL,
        error TEXT,
        execution_count INTEGER,
        pid INTEGER
    )
    """,
    "CREATE INDEX IF NOT EXISTS call_history_by_tool ON call_history (tool, id)",
)


def _add_call_approval(conn: sqlite3.Connection) -> None:
    """Add `call_history.approval`: how the tool policy approved or denied each call.

    SQLite has no `ADD COLUMN IF NOT EXISTS`; a registry whose `user_version` was set
    back re-runs this step, so it looks first.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(call_history)")}
    if "approval" not in columns:
        conn.execute("ALTER TABLE call_history ADD COLUMN approval TEXT")


_V5_CALL_APPROVAL: tuple[Callable[[sqlite3.Connection], None]] = (_add_call_approval,)


def _add_call_session(conn: sqlite3.Connection) -> None:
    """Add `call_history.session`: which kernel's tool host served each call.

    Looks first, as `_add_call_approval` does, so a re-run step is harmless.
    """
    columns = {row[1] for row in conn.execute("PRAGMA table_info(call_history)")}
    if "session" not in columns:
        conn.execute("ALTER TABLE call_history ADD COLUMN session TEXT")


_V6_CALL_SESSION: tuple[Callable[[sqlite3.Connection], None]] = (_add_call_session,)

MigrationStep = tuple[str | Callable[[sqlite3.Connection], None], ...]
"""Single SQL statements, or functions that change the data through the connection."""

MIGRATIONS: list[MigrationStep] = [
    _V1_CATALOG_AND_SEARCH,
    _V2_TOOL_VERSIONS,
    _V3_BINDING_IDENTIFIERS,
    _V4_CALL_HISTORY,
    _V5_CALL_APPROVAL,
    _V6_CALL_SESSION,
]
"""Schema steps in order; step `i` takes the schema from version `i` to `i + 1`.

Each step is a tuple of single statements (not a script: `executescript` would commit
the surrounding transaction) or of functions that run inside the migration's
transaction. Step 2 adds the versioned registry tools and the memory store; step 3
gives every indexed tool its binding's name as identifier; step 4 adds the call history;
step 5 adds each call's approval; step 6 the session (the tool host) that served it.
"""


class Database:
    """One connection to `registry.db`, safe to hand between threads.

    The connection may be created in one thread and used in another; a lock makes sure
    only one thread uses it at a time.
    """

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the database at `path` and bring its schema up to date.

        Raises:
            RegistryError: The file cannot be opened, or was written by a newer toolkernel.
        """
        self.path = path
        self._lock = threading.Lock()
        self._commits = 0
        try:
            _private(path)
            self._conn = _connect(path)
        except (OSError, sqlite3.Error) as exc:
            msg = (
                f"cannot open the registry at {path}: {exc}; check that its folder can be "
                "created and written, and that no other process keeps the database locked"
            )
            raise RegistryError(msg) from exc
        try:
            with self._lock:
                _migrate(self._conn, path)
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Lend the connection for reads; SQLite errors become `RegistryError`."""
        with self._lock, _translated(self.path):
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """Lend the connection inside one `BEGIN IMMEDIATE` transaction.

        The transaction commits when the block ends and rolls back fully if it raises,
        whatever the exception.
        """
        with self._lock, _translated(self.path):
            with _immediate(self._conn):
                yield self._conn
            self._commits += 1

    @property
    def commits(self) -> int:
        """How many `write()` blocks have committed on this connection.

        SQLite's `PRAGMA data_version` ignores a connection's own commits; a watcher adds
        this count to see them too.
        """
        return self._commits

    def close(self) -> None:
        """Close the connection; later use raises `RegistryError`."""
        with self._lock:
            self._conn.close()


HOME_MODE = 0o700
"""The home folder's mode: its owner's alone (sandboxes get their folders bound in)."""


def _private(path: Path) -> None:
    """Make `path`'s folder and the database file private to their owner.

    A new home is created 0700 and a new database 0600 (SQLite gives its WAL and shared
    memory files the database's mode). An existing home or database of ours that others
    can read is tightened; one owned by another user is left as it is.
    """
    path.parent.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    if not path.exists():
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    for target, mode, kind in ((path.parent, HOME_MODE, S_ISDIR), (path, 0o600, S_ISREG)):
        info = target.lstat()
        if kind(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
            target.chmod(mode)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; we BEGIN explicitly.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (a persistent setting), retrying while another opener holds it.

    The switch needs an exclusive lock, and SQLite reports a conflict at once instead of
    calling the busy handler, so two processes creating the registry together collide
    here; the retry is bounded by `BUSY_TIMEOUT_S`.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        else:
            return


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            # If even the rollback fails, the original error says more.
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.ProgrammingError as exc:
        msg = f"the registry at {path} cannot be used: {exc}; open a new ToolRegistry"
        raise RegistryError(msg) from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            hint = f"another process held it for more than {BUSY_TIMEOUT_S:g} s; retry later"
        else:
            hint = "check the disk and the file's permissions"
        msg = f"the registry at {path} failed: {exc}; {hint}"
        raise RegistryError(msg) from exc
    except sqlite3.Error as exc:
        msg = f"the registry at {path} failed: {exc}; the change was rolled back"
        raise RegistryError(msg) from exc


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    with _translated(path):
        if _user_version(conn) == len(MIGRATIONS):
            return
        with _immediate(conn):
            # Another process may have migrated while we waited for the lock.
            version = _user_version(conn)
            if version > len(MIGRATIONS):
                msg = (
                    f"the registry at {path} has schema version {version}, newer than this "
                    f"toolkernel understands ({len(MIGRATIONS)}); upgrade toolkernel"
                )
                raise RegistryError(msg)
            for step in MIGRATIONS[version:]:
                for statement in step:
                    if callable(statement):
                        statement(conn)
                    else:
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])
