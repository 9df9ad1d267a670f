"""The memory store: small JSON values under string keys, per namespace, with an optional ttl.

Memory outlives kernels and is shared by every process on the same toolkernel home. The
namespace `user` belongs to the person or agent in the kernel; a script or WASM tool
gets its own, `tool:<namespace.tool>`. Every limit is explicit (see the constants) and
checked before anything is written.

An entry whose ttl has run out is never returned. Each write first deletes the expired
entries of its namespace, so a namespace never holds more than `MAX_KEYS` rows;
`purge_expired` clears every namespace at once.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from toolkernel.errors import MemoryLimitError
from toolkernel.registry._versions import check_tool_name

__all__ = [
    "MAX_KEYS",
    "MAX_KEY_CHARS",
    "MAX_NAMESPACE_CHARS",
    "MAX_VALUE_BYTES",
    "TOOL_NAMESPACE_PREFIX",
    "USER_NAMESPACE",
    "MemoryEntry",
    "check_key",
    "check_namespace",
    "delete_key",
    "encode_entry",
    "get_value",
    "list_keys",
    "purge_expired",
    "store_entry",
    "tool_namespace",
]

USER_NAMESPACE = "user"
"""The namespace of the person or agent working in a kernel."""

TOOL_NAMESPACE_PREFIX = "tool:"
"""A tool's own namespace is this prefix and its qualified name: `tool:local.primes`."""

MAX_NAMESPACE_CHARS = 200
"""The longest namespace name, in characters."""

MAX_KEY_CHARS = 256
"""The longest key, in characters."""

_MIB = 1024 * 1024

MAX_VALUE_BYTES = _MIB
"""The largest value: its compact JSON, encoded as UTF-8, in bytes (1 MiB)."""

MAX_KEYS = 10_000
"""The most live (unexpired) keys one namespace may hold."""

_now = time.time
"""The clock that stamps and expires entries; tests replace it instead of sleeping."""

_NOT_JSON_HINT = "memory holds JSON: dicts with str keys, lists, str, numbers, bools and None"


@dataclass(frozen=True)
class MemoryEntry:
    """A checked, encoded value, ready to store without further work under the write lock.

    Attributes:
        namespace: Where it goes.
        key: Its key.
        value_json: The value as compact JSON.
        ttl: Seconds it lives after being stored, or None to keep it until deleted.
    """

    namespace: str
    key: str
    value_json: str = field(repr=False)
    ttl: float | None


def tool_namespace(name: str) -> str:
    """Return the memory namespace of registry tool `name` (`local.primes` -> `tool:...`).

    Raises:
        RegistryError: `name` is not a valid `namespace.tool` name.
    """
    check_tool_name(name)
    return TOOL_NAMESPACE_PREFIX + name


def check_namespace(namespace: str) -> str:
    """Return `namespace` if it is a usable namespace name.

    Raises:
        MemoryLimitError: It is not a non-empty str of at most `MAX_NAMESPACE_CHARS`
            characters without NUL.
    """
    if not _is_text(namespace, MAX_NAMESPACE_CHARS):
        msg = (
            f"invalid memory namespace {_shown(namespace)}: use {USER_NAMESPACE!r}, or "
            f"'{TOOL_NAMESPACE_PREFIX}<namespace.tool>' for a tool's own memory (a non-empty "
            f"str of at most {MAX_NAMESPACE_CHARS} characters, without NUL)"
        )
        raise MemoryLimitError(msg, namespace=_str_or_none(namespace))
    return namespace


def check_key(namespace: str, key: str) -> str:
    """Return `key` if it is a usable key in a valid `namespace`.

    Raises:
        MemoryLimitError: The namespace is invalid, or the key is not a non-empty str of
            at most `MAX_KEY_CHARS` characters without NUL.
    """
    check_namespace(namespace)
    if not _is_text(key, MAX_KEY_CHARS):
        msg = (
            f"invalid memory key {_shown(key)}: keys are non-empty str of at most "
            f"{MAX_KEY_CHARS} characters, without NUL; use a short name such as 'last_run'"
        )
        raise MemoryLimitError(msg, namespace=namespace, key=_str_or_none(key))
    return key


def encode_entry(namespace: str, key: str, value: object, ttl: float | None) -> MemoryEntry:
    """Check every limit but the key count, and encode `value` as compact JSON.

    Raises:
        MemoryLimitError: The namespace, key or ttl is invalid, or the value is not JSON
            or larger than `MAX_VALUE_BYTES`.
    """
    check_key(namespace, key)
    _check_ttl(namespace, key, ttl)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:
        msg = f"value for {key!r} cannot be stored: {exc}; {_NOT_JSON_HINT}"
        raise MemoryLimitError(msg, namespace=namespace, key=key) from exc
    if size > MAX_VALUE_BYTES:
        msg = (
            f"value for {key!r} is {size / _MIB:.2f} MiB ({size:,} bytes) of JSON; "
            "memory values are at most 1 MiB: store large data in a file or a blob instead"
        )
        raise MemoryLimitError(msg, namespace=namespace, key=key)
    return MemoryEntry(namespace, key, text, None if ttl is None else float(ttl))


def store_entry(conn: sqlite3.Connection, entry: MemoryEntry) -> None:
    """Insert or replace `entry`; the caller holds a write.

    Raises:
        MemoryLimitError: The key is new and its namespace already holds `MAX_KEYS`
            live keys. The caller's transaction must roll back (a `write()` block does).
    """
    now = _now()
    purge_expired(conn, entry.namespace, now=now)
    if not _exists(conn, entry.namespace, entry.key) and _count(conn, entry.namespace) >= MAX_KEYS:
        msg = (
            f"memory namespace {entry.namespace!r} already holds {MAX_KEYS:,} keys, the most "
            f"it may, so {entry.key!r} was not stored: delete keys you no longer need, or "
            "give entries a ttl so they expire"
        )
        raise MemoryLimitError(msg, namespace=entry.namespace, key=entry.key)
    expires_at = None if entry.ttl is None else now + entry.ttl
    conn.execute(
        "INSERT INTO memory (namespace, key, value_json, expires_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET"
        " value_json = excluded.value_json, expires_at = excluded.expires_at,"
        " updated_at = excluded.updated_at",
        (entry.namespace, entry.key, entry.value_json, expires_at, now),
    )


def get_value(conn: sqlite3.Connection, namespace: str, key: str) -> tuple[bool, Any]:
    """Return (True, value) for a live entry, else (False, None).

    The value comes back as JSON gives it: tuples as lists, dict keys as str.

    Raises:
        MemoryLimitError: The namespace or key is invalid.
    """
    check_key(namespace, key)
    row = conn.execute(
        "SELECT value_json FROM memory WHERE namespace = ? AND key = ?"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (namespace, key, _now()),
    ).fetchone()
    return (False, None) if row is None else (True, json.loads(row[0]))


def delete_key(conn: sqlite3.Connection, namespace: str, key: str) -> bool:
    """Delete `key`, and return whether a live entry was there; the caller holds a write.

    Raises:
        MemoryLimitError: The namespace or key is invalid.
    """
    check_key(namespace, key)
    purge_expired(conn, namespace)
    cursor = conn.execute("DELETE FROM memory WHERE namespace = ? AND key = ?", (namespace, key))
    return cursor.rowcount > 0


def list_keys(conn: sqlite3.Connection, namespace: str, prefix: str = "") -> list[str]:
    """Return the live keys of `namespace` that start with `prefix`, sorted.

    The prefix is compared literally: `%`, `_` and `*` are ordinary characters.

    Raises:
        MemoryLimitError: The namespace is invalid, or `prefix` is not a str.
    """
    check_namespace(namespace)
    if not isinstance(prefix, str):
        msg = f"a memory key prefix must be a str, not {type(prefix).__name__}"
        raise MemoryLimitError(msg, namespace=namespace)
    if prefix and not _is_text(prefix, MAX_KEY_CHARS):
        return []  # no valid key can start with it
    rows = conn.execute(
        "SELECT key FROM memory WHERE namespace = ? AND substr(key, 1, ?) = ?"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
        (namespace, len(prefix), prefix, _now()),
    )
    return [row[0] for row in rows]


def purge_expired(
    conn: sqlite3.Connection, namespace: str | None = None, *, now: float | None = None
) -> int:
    """Delete the expired entries of `namespace` (of every namespace when None).

    The caller holds a write.

    Returns:
        How many entries were deleted.
    """
    stamp = _now() if now is None else now
    if namespace is None:
        cursor = conn.execute("DELETE FROM memory WHERE expires_at <= ?", (stamp,))
    else:
        cursor = conn.execute(
            "DELETE FROM memory WHERE namespace = ? AND expires_at <= ?", (namespace, stamp)
        )
    return cursor.rowcount


def _check_ttl(namespace: str, key: str, ttl: object) -> None:
    if ttl is None:
        return
    if isinstance(ttl, int | float) and not isinstance(ttl, bool) and 0 < ttl < math.inf:
        return
    msg = (
        f"ttl for {key!r} must be a positive number of seconds, or None to keep the value "
        f"until it is deleted; got {ttl!r}"
    )
    raise MemoryLimitError(msg, namespace=namespace, key=key)


def _is_text(text: object, limit: int) -> bool:
    if not isinstance(text, str) or not 0 < len(text) <= limit or "\0" in text:
        return False
    try:
        text.encode("utf-8")  # lone surrogates cannot be stored
    except UnicodeEncodeError:
        return False
    return True


def _exists(conn: sqlite3.Connection, namespace: str, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM memory WHERE namespace = ? AND key = ?", (namespace, key))
    return row.fetchone() is not None


def _count(conn: sqlite3.Connection, namespace: str) -> int:
    row = conn.execute("SELECT count(*) FROM memory WHERE namespace = ?", (namespace,)).fetchone()
    return int(row[0])


def _shown(value: object) -> str:
    if not isinstance(value, str):
        return f"of type {type(value).__name__}"
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
