"""`resources/list` and `resources/read` across the connected MCP servers.

Script tools ask for them over their channel, and a cell through `list_resources` and
`read_resource` (and `ToolResourceLink.read()`); all go through the host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolkernel.errors import ServerUnavailable, ToolError, ToolNotFound
from toolkernel.host._failures import ConnectFailed

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

    from toolkernel.host._connection import ServerConnection

__all__ = ["serve_resources"]


async def serve_resources(
    connections: Mapping[str, ServerConnection], method: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Answer `resources/list` (each resource marked with its `server`) or `resources/read`.

    Both take an optional `server`: then only that server is asked, and its failure is
    raised; without one, every connected server is asked (list) or tried in turn (read).
    `resources/read` takes `uri`.

    Raises:
        ToolNotFound: No server has that name.
        ServerUnavailable: The named server could not be reached.
        ToolError: The named server refused, or no connected server could read the URI.
    """
    wanted = params.get("server")
    if wanted is not None:
        return await _ask_one(connections, str(wanted), method, params)
    sessions: dict[str, ClientSession] = {}
    for name, conn in connections.items():
        with contextlib.suppress(ConnectFailed):
            sessions[name] = await conn.ensure_connected()
    if method == "resources/list":
        found: list[dict[str, Any]] = []
        for name, session in sessions.items():
            with contextlib.suppress(Exception):
                found += await _list(name, session)
        return {"resources": found}
    uri = str(params.get("uri") or "")
    for session in sessions.values():
        with contextlib.suppress(Exception):
            return _json(await session.read_resource(uri))
    msg = f"no connected MCP server could read resource {uri!r}; see list_resources()"
    raise ToolError(msg, tool="resources/read")


async def _ask_one(
    connections: Mapping[str, ServerConnection], name: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    from mcp.shared.exceptions import MCPError  # noqa: PLC0415 - imported on the host thread

    conn = connections.get(name)
    if conn is None:
        servers = ", ".join(sorted(connections)) or "none configured"
        msg = f"no MCP server is named {name!r} (servers: {servers})"
        raise ToolNotFound(msg, tool=method)
    try:
        session = await conn.ensure_connected()
    except ConnectFailed as exc:
        raise ServerUnavailable(str(exc), tool=method, server=name) from exc
    try:
        if method == "resources/list":
            return {"resources": await _list(name, session)}
        uri = str(params.get("uri") or "")
        return _json(await session.read_resource(uri))
    except MCPError as exc:
        what = "list its resources" if method == "resources/list" else f"read {uri!r}"
        msg = f"server {name!r} could not {what}: {exc.error.message}"
        raise ToolError(msg, tool=method) from exc


async def _list(name: str, session: ClientSession) -> list[dict[str, Any]]:
    from mcp import types  # noqa: PLC0415 - imported on the host thread

    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_resources(params=params)
        found += [{"server": name, **_json(r)} for r in page.resources]
        cursor = page.next_cursor
        if not cursor:
            return found


def _json(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return data
