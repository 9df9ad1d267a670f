"""The call history: one row per tool call made through a session, the newest kept.

Every front door's call (a cell, the bridge, the panel) passes `Toolbox.call_result`,
which records what was called, how big its arguments were, how long it took and how it
ended. Rows live in the registry's SQLite, so the panel (another process) and the
bridge read the same history; only the newest `HISTORY_KEEP` rows (by default) are
kept, trimmed on each write.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CALL_OUTCOMES",
    "HISTORY_KEEP",
    "MAX_ERROR_CHARS",
    "MAX_HISTORY_LIMIT",
    "CallRecord",
    "recent_calls",
    "record_calls",
]

CALL_OUTCOMES = ("ok", "error", "failed", "cancelled", "refused")
"""How a call ended: the tool answered (`ok`) or answered with an error (`error`); the
call failed before an answer (`failed`: unknown tool, bad arguments, server down), was
cancelled, or was refused (`refused`: by a per-execution cap, a budget, or the tool
policy)."""

HISTORY_KEEP = 1000
"""How many of the newest calls the history keeps by default."""

MAX_HISTORY_LIMIT = 10_000
"""The most rows one read returns."""

MAX_ERROR_CHARS = 500
"""An error message is kept up to this many characters."""


@dataclass(frozen=True)
class CallRecord:
    """One tool call.

    Attributes:
        tool: The qualified name called (`server.tool`).
        arguments_bytes: The size of the arguments as compact JSON, in bytes.
        duration_s: How long the call took, in seconds.
        outcome: One of `CALL_OUTCOMES`.
        started_at: When it started (Unix time).
        error: The error message (trimmed), when it did not end `ok`.
        execution_count: The calling cell's execution count; None outside a cell.
        pid: The process that made the call (a kernel, the bridge, a panel server).
        approval: What the tool policy decided, when it asked or refused: `allowed:<who>`
            (someone was asked and allowed it), `remembered:<who>` (allowed by their
            earlier "for this session" answer), or `denied:<who>`; `<who>` is `person`,
            `client`, `policy` or `timeout`. None: the call needed no approval.
        session: Which kernel's `toolkernel host` served and recorded the call
            (`host <socket path>`); None: the calling process recorded it itself.
    """

    tool: str
    arguments_bytes: int
    duration_s: float
    outcome: str
    started_at: float
    error: str | None = None
    execution_count: int | None = None
    pid: int | None = None
    approval: str | None = None
    session: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON object (its fields by name)."""
        return asdict(self)


_COLUMNS = (
    "tool, arguments_bytes, duration_s, outcome, started_at, error, execution_count, pid, "
    "approval, session"
)


def record_calls(conn: sqlite3.Connection, records: list[CallRecord], *, keep: int) -> None:
    """Append `records` and drop all but the newest `keep` rows (call inside a write)."""
    conn.executemany(
        f"INSERT INTO call_history ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [
            (
                r.tool,
                r.arguments_bytes,
                r.duration_s,
                r.outcome,
                r.started_at,
                None if r.error is None else r.error[:MAX_ERROR_CHARS],
                r.execution_count,
                r.pid,
                r.approval,
                r.session,
            )
            for r in records
        ],
    )
    conn.execute(
        "DELETE FROM call_history WHERE id <= (SELECT max(id) FROM call_history) - ?", (keep,)
    )


def recent_calls(
    conn: sqlite3.Connection, limit: int, *, tool: str | None = None
) -> list[CallRecord]:
    """Return the newest `limit` calls (of `tool`, if given), newest first."""
    where, params = ("WHERE tool = ?", [tool]) if tool is not None else ("", [])
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM call_history {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        [*params, limit],
    ).fetchall()
    return [CallRecord(*row) for row in rows]
