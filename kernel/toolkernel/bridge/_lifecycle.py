"""The bridge's version tools: list, diff and roll back registry tools in the live kernel.

They run in the kernel (as silent expressions) so its bindings follow a rollback at
once, exactly as when a person calls `rollback_tool` in a cell.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

__all__ = ["add_lifecycle_tools"]

_NAME = Field(description="The registry tool, as 'namespace.tool' (e.g. 'local.primes').")
_VERSION_ROW = (
    "[{{'version': v.version, 'created_at': v.created_at, 'author': v.author, "
    "'note': v.note, 'rollback_of': v.rollback_of}} for v in tool_versions({name!r})]"
)


def add_lifecycle_tools(server: BridgeServer, session: KernelSession) -> None:
    """Add `tool_versions`, `diff_tool`, `rollback_tool` and `memory` to the server."""

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
        calls = {
            "get": f"memory.get({key!r})",
            "set": f"memory.set({key!r}, {value!r}, ttl={ttl_s!r}) or True",
            "delete": f"memory.delete({key!r})",
            "list": f"memory.list({key!r})",
        }
        if action not in calls:
            msg = f"action must be get, set, delete or list, not {action!r}"
            raise ToolError(msg)
        return await _evaluate(session, calls[action])

    @server.tool(description="List a registry tool's versions, oldest first, with notes.")
    async def tool_versions(name: Annotated[str, _NAME]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await _evaluate(session, _VERSION_ROW.format(name=name))
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
        text: str = await _evaluate(session, f"str(diff_tool({name!r}, {a}, {b!r}))")
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
        expression = f"rollback_tool({name!r}, {version}, note={note!r}).version"
        new: int = await _evaluate(session, expression)
        await server.notify_if_changed(ctx)
        return f"{name} is now version {new}, with the content of version {version}"


async def _evaluate(session: KernelSession, expression: str) -> Any:
    try:
        text = await session.run_and_evaluate(
            "pass", f"__import__('json').dumps({expression})", timeout=60
        )
    except BridgeError as exc:
        raise ToolError(str(exc)) from exc
    return json.loads(text)
