"""`resources/list` and `resources/read` across the connected MCP servers, for scripts."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolkernel.errors import ToolError
from toolkernel.host._failures import ConnectFailed

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

    from toolkernel.host._connection import ServerConnection

__all__ = ["serve_resources"]


async def serve_resources(
    connections: Mapping[str, ServerConnection], method: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Answer `resources/list` (every server's, each marked with `server`) or `resources/read`.

    `resources/read` takes `uri` and, optionally, the `server` to ask.

    Raises:
        ToolError: No connected server could read the URI.
    """
    sessions: dict[str, ClientSession] = {}
    for name, conn in connections.items():
        with contextlib.suppress(ConnectFailed):
            sessions[name] = await conn.ensure_connected()
    if method == "resources/list":
        found = []
        for name, session in sessions.items():
            with contextlib.suppress(Exception):
                page = await session.list_resources()
                found += [{"server": name, **_json(r)} for r in page.resources]
        return {"resources": found}
    uri = str(params.get("uri") or "")
    wanted = params.get("server")
    for name, session in sessions.items():
        if wanted in (None, name):
            with contextlib.suppress(Exception):
                return _json(await session.read_resource(uri))
    msg = f"no connected MCP server could read resource {uri!r}; see resources/list"
    raise ToolError(msg, tool="resources/read")


def _json(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return data
