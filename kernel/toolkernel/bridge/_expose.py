"""`--expose-tools`: every tool of the kernel's catalog, published as an MCP tool too.

Calls run inside the kernel through its `ToolHost.call`, like every other tool call, so
the bridge opens no second connection to any server. The list follows the kernel's
catalog: when it changes (a server's `tools/list_changed`, a new tool), the client is
sent `notifications/tools/list_changed`.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult, Tool, ToolAnnotations

from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

__all__ = ["BridgeServer"]

_TOOLBOX = "get_ipython().kernel.toolbox"


class BridgeServer(MCPServer):
    """The bridge's MCP server; with `expose=True` it also lists the kernel's tools."""

    def __init__(self, session: KernelSession, *, expose: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._expose = expose
        self._exposed: dict[str, Tool] = {}
        self._digest: str | None = None

    async def list_tools(self) -> list[Tool]:
        """The bridge's own tools, then (with `--expose-tools`) every kernel tool."""
        own = await super().list_tools()
        if not self._expose:
            return own
        await self.refresh_exposed()
        return own + list(self._exposed.values())

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Run an exposed tool in the kernel, or one of the bridge's own tools."""
        if self._expose and name not in self._exposed:
            await self.refresh_exposed()
        if self._expose and name in self._exposed:
            return await self._call_exposed(name, arguments)
        return await super().call_tool(name, arguments, context)

    async def refresh_exposed(self) -> bool:
        """Reload the kernel's catalog; return True when it changed since the last load."""
        try:
            catalog = await self._session.evaluate_json(f"{_TOOLBOX}.catalog_json()")
        except BridgeError:
            return False
        if catalog["digest"] == self._digest:
            return False
        self._digest = catalog["digest"]
        self._exposed = {tool.name: tool for tool in map(_mcp_tool, catalog["tools"])}
        return True

    async def notify_if_changed(self, ctx: Context[Any, Any]) -> None:
        """Send `tools/list_changed` when the kernel's catalog moved (after running code)."""
        if self._expose and await self.refresh_exposed():
            await ctx.session.send_tool_list_changed()

    async def _call_exposed(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        code = f"_toolkernel_relayed = await {_TOOLBOX}.call_json({name!r}, {arguments!r})"
        text = await self._session.run_and_evaluate(
            code, "__import__('json').dumps(_toolkernel_relayed)", timeout=3600
        )
        result = json.loads(text)
        return CallToolResult.model_validate(
            {
                "content": result["content"],
                "structuredContent": result.get("structured"),
                "isError": result["is_error"],
            }
        )


def _mcp_tool(spec: dict[str, Any]) -> Tool:
    annotations = spec.get("annotations") or None
    return Tool(
        name=f"{spec['source']}.{spec['name']}",
        title=spec.get("title"),
        description=spec.get("description") or None,
        input_schema=spec.get("input_schema") or {"type": "object"},
        output_schema=spec.get("output_schema"),
        annotations=ToolAnnotations.model_validate(annotations) if annotations else None,
    )
