"""What `%tools`, the CLI and the panel show about each configured server."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerStatus"]


@dataclass(frozen=True)
class ServerStatus:
    """A configured server's connection state, as `%tools` shows it.

    Attributes:
        name: The server's name in mcp.json.
        state: `connecting`, `connected` or `failed`.
        detail: Why it failed and what to do, when it failed.
        tool_count: How many tools it offers (live, or from the catalog cache).
    """

    name: str
    state: str
    detail: str | None
    tool_count: int | None
