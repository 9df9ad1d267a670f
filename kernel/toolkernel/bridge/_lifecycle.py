"""The bridge's version tools: list, diff, roll back, delete and restore registry tools.

They run in the kernel's session (over the typed channel) so its bindings follow a
rollback or a delete at once, exactly as when a person calls `rollback_tool` in a cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from toolkernel.bridge._create import CREATE_TOOL
from toolkernel.errors import BridgeError

if TYPE_CHECKING:
    from toolkernel.bridge._expose import BridgeServer
    from toolkernel.bridge._sessions import KernelHandle

__all__ = ["LIFECYCLE_TOOLS", "add_lifecycle_tools"]

LIFECYCLE_TOOLS = frozenset(
    {
        CREATE_TOOL,
        "memory",
        "tool_versions",
        "diff_tool",
        "rollback_tool",
        "delete_tool",
        "restore_tool",
        "add_server",
        "remove_server",
    }
)
"""The tools `--lifecycle-tools` adds; each is also a function inside `execute_code`."""

_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
# A rollback adds a version (history is kept): not destructive, not idempotent.
_ADDS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)

MemoryAction = Literal["get", "set", "delete", "list"]

_NAME = Field(description="The registry tool, as 'namespace.tool' (e.g. 'local.primes').")


def add_lifecycle_tools(server: BridgeServer, session: KernelHandle) -> None:
    """Add the version, delete, memory and server tools (`LIFECYCLE_TOOLS` but one).

    `create_tool` is the server's own (`BridgeServer`), its schema made from `ToolDraft`.
    """

    @server.tool(
        description=(
            "The persistent key-value memory shared with the kernel (`memory` there) and "
            "with script tools (their own namespaces). action: get, set, delete or list; "
            "values are JSON; ttl_s makes a set value expire."
        ),
        # set overwrites and delete removes: destructive.
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=False
        ),
    )
    async def memory(
        action: Annotated[MemoryAction, Field(description="What to do with the key.")],
        key: Annotated[str, Field(description="The key (the prefix, for list).")] = "",
        value: Annotated[Any, Field(description="The JSON value to set.")] = None,
        ttl_s: Annotated[float | None, Field(description="Seconds until it expires.")] = None,
    ) -> Any:
        params = {"action": action, "key": key, "value": value, "ttl_s": ttl_s}
        return await _ask(session, "memory", params)

    @server.tool(
        description="List a registry tool's versions, oldest first, with notes.",
        annotations=_READ_ONLY,
    )
    async def tool_versions(name: Annotated[str, _NAME]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await _ask(session, "tools/versions", {"name": name})
        return rows

    @server.tool(
        description=(
            "Show a unified diff (source files, schemas, limits, policy) between two "
            "versions of a registry tool; `b` defaults to the current version."
        ),
        annotations=_READ_ONLY,
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
        ),
        annotations=_ADDS,
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

    _add_delete_tools(server, session)
    _add_server_tools(server, session)


def _add_delete_tools(server: BridgeServer, session: KernelHandle) -> None:
    @server.tool(
        description=(
            "Delete a registry tool: it leaves tools.<namespace> and search at once. The "
            "delete is soft: tool_versions shows it, and restore_tool brings the tool back. "
            "MCP servers' tools cannot be deleted."
        ),
        # The tool stops working for every caller (though history is kept): destructive.
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def delete_tool(
        ctx: Context,
        name: Annotated[str, _NAME],
        note: Annotated[str | None, Field(description="Why.")] = None,
    ) -> str:
        version: int = await _ask(session, "tools/delete", {"name": name, "note": note})
        await server.notify_if_changed(ctx)
        return f"{name} is deleted (version {version}); restore_tool brings it back"

    @server.tool(
        description=(
            "Bring back a deleted registry tool as it was when deleted, as a new version "
            "(rollback_tool restores an older version instead)."
        ),
        annotations=_ADDS,
    )
    async def restore_tool(
        ctx: Context,
        name: Annotated[str, _NAME],
        note: Annotated[str | None, Field(description="Why.")] = None,
    ) -> str:
        version: int = await _ask(session, "tools/restore", {"name": name, "note": note})
        await server.notify_if_changed(ctx)
        return f"{name} is restored as version {version}"


def _add_server_tools(server: BridgeServer, session: KernelHandle) -> None:
    @server.tool(
        description=(
            "Start an MCP server in the kernel now (tools.<name> in execute_code once it "
            "connects) and keep it in the home's mcp.json. config is its mcp.json entry: "
            '{"command": ..., "args": [...], "env": {...}} or {"url": ..., "headers": {...}}.'
        ),
        # It starts a program (or reaches a URL) and may replace a server: open world.
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=True
        ),
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

    @server.tool(
        description="Stop an MCP server, drop its tools and remove it from mcp.json.",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=False
        ),
    )
    async def remove_server(
        ctx: Context, name: Annotated[str, Field(description="The server's name.")]
    ) -> str:
        await _ask(session, "servers/remove", {"name": name})
        await server.notify_if_changed(ctx)
        return f"server {name!r} is stopped and removed"


async def _ask(session: KernelHandle, method: str, params: dict[str, Any]) -> Any:
    try:
        return await session.request(method, params)
    except BridgeError as exc:
        raise ToolError(str(exc)) from exc
