"""Server status shared by kernels, the CLI and the JupyterLab panel."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

__all__ = ["SERVER_STATES", "ServerStatus", "all_statuses", "check_state", "upsert_status"]

SERVER_STATES = frozenset({"connecting", "connected", "failed", "disabled"})
"""The states a configured server can be in."""


@dataclass(frozen=True)
class ServerStatus:
    """The last published state of one configured server.

    Attributes:
        name: The server's name in mcp.json.
        state: `connecting`, `connected`, `failed` or `disabled`.
        detail: Why it failed and what to do, or other context; None when there is none.
        tool_count: How many tools it offers, when known.
        updated_at: When the state was published, as Unix time.
    """

    name: str
    state: str
    detail: str | None
    tool_count: int | None
    updated_at: float


def check_state(state: str) -> None:
    """Raise `ValueError` unless `state` is one of `SERVER_STATES`."""
    if state not in SERVER_STATES:
        msg = f"unknown server state {state!r}; use one of {', '.join(sorted(SERVER_STATES))}"
        raise ValueError(msg)


def upsert_status(
    conn: sqlite3.Connection,
    name: str,
    state: str,
    detail: str | None,
    tool_count: int | None,
) -> None:
    """Record `state` for server `name`, replacing what was there; stamps `updated_at`."""
    conn.execute(
        "INSERT INTO server_status (name, state, detail, tool_count, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET state = excluded.state, detail = excluded.detail,"
        " tool_count = excluded.tool_count, updated_at = excluded.updated_at",
        (name, state, detail, tool_count, time.time()),
    )


def all_statuses(conn: sqlite3.Connection) -> list[ServerStatus]:
    """Return the status of every server that ever published one, sorted by name."""
    rows = conn.execute(
        "SELECT name, state, detail, tool_count, updated_at FROM server_status ORDER BY name"
    )
    return [ServerStatus(*row) for row in rows]
