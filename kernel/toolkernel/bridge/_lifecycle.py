"""The bridge's version tools: list, diff and roll back registry tools in the live kernel.

They run in the kernel's session (over the typed channel) so its bindings follow a
rollback at once, exactly as when a person calls `rollback_tool` in a cell.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

__all__ = ["add_lifecycle_tools"]

_NAME = Field(description="The registry tool, as 'namespace.tool' (e.g. 'local.primes').")


def add_lifecycle_tools(server: BridgeServer, session: KernelSession) -> None:
    """Add `tool_versions`, `diff_tool`, `rollback_tool`, `memory` and the server tools."""

    @server.tool(
        description=(
            "The persistent key-value memory shared with the kernel (`memory` there) and "
            "with script tools (their own namespaces). action: get, set, delete or list; "
            "values are JSON; ttl_s makes a set value expire."
        )
    )
    async def memory(
        action: Annotated[str, Field(description="get, set, delete or list.")],
        key: Annotated[str, Field(description="The key (the prefix, for list).")] = "",
        value: Annotated[Any, Field(description="The JSON value to set.")] = None,
        ttl_s: Annotated[float | None, Field(description="Seconds until it expires.")] = None,
    ) -> Any:
        if action not in ("get", "set", "delete", "list"):
            msg = f"action must be get, set, delete or list, not {action!r}"
            raise ToolError(msg)
        params = {"action": action, "key": key, "value": value, "ttl_s": ttl_s}
        return await _ask(session, "memory", params)

    @server.tool(description="List a registry tool's versions, oldest first, with notes.")
    async def tool_versions(name: Annotated[str, _NAME]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await _ask(session, "tools/versions", {"name": name})
        return rows

    @server.tool(
        description=(
            "Show a unified diff (source files, schemas, limits, policy) between two "
            "versions of a registry tool; `b` defaults to the current version."
        )
    )
    async def diff_tool(
        name: Annotated[str, _NAME],
        a: Annotated[int, Field(description="The older version.", ge=1)],
        b: Annotated[int | None, Field(description="The newer version.", ge=1)] = None,
    ) -> str:
        text: str = await _ask(session, "tools/diff", {"name": name, "a": a, "b": b})
        return text or "no differences"

    @server.tool(
        description=(
            "Make an old version of a registry tool current again. History is kept: the "
            "rollback is a new version whose content is the old one."
        )
    )
    async def rollback_tool(
        ctx: Context,
        name: Annotated[str, _NAME],
        version: Annotated[int, Field(description="The version to restore.", ge=1)],
        note: Annotated[str | None, Field(description="Why.")] = None,
    ) -> str:
        params = {"name": name, "version": version, "note": note}
        new: int = await _ask(session, "tools/rollback", params)
        await server.notify_if_changed(ctx)
        return f"{name} is now version {new}, with the content of version {version}"

    _add_server_tools(server, session)


def _add_server_tools(server: BridgeServer, session: KernelSession) -> None:
    @server.tool(
        description=(
            "Start an MCP server in the kernel now (tools.<name> in execute_code once it "
            "connects) and keep it in the home's mcp.json. config is its mcp.json entry: "
            '{"command": ..., "args": [...], "env": {...}} or {"url": ..., "headers": {...}}.'
        )
    )
    async def add_server(
        ctx: Context,
        name: Annotated[str, Field(description="Letters, digits, '_' or '-'.")],
        config: Annotated[dict[str, Any], Field(description="Its mcp.json entry.")],
        replace: Annotated[bool, Field(description="Replace a server of that name.")] = False,
    ) -> dict[str, Any]:
        params = {"name": name, "config": config, "replace": replace}
        status: dict[str, Any] = await _ask(session, "servers/add", params)
        await server.notify_if_changed(ctx)
        return status

    @server.tool(description="Stop an MCP server, drop its tools and remove it from mcp.json.")
    async def remove_server(
        ctx: Context, name: Annotated[str, Field(description="The server's name.")]
    ) -> str:
        await _ask(session, "servers/remove", {"name": name})
        await server.notify_if_changed(ctx)
        return f"server {name!r} is stopped and removed"


async def _ask(session: KernelSession, method: str, params: dict[str, Any]) -> Any:
    try:
        return await session.request(method, params)
    except BridgeError as exc:
        raise ToolError(str(exc)) from exc
