"""`--expose-tools`: every tool of the kernel's catalog, published as an MCP tool too.

Calls run inside the kernel through its session's one call path (`Toolbox.call_result`,
then `ToolHost.call`), like every other tool call, over the typed channel: the lock's
pins apply, progress comes back as MCP progress, and a server's sampling or elicitation
request reaches the calling client. The bridge opens no second connection to any server.

The list follows the kernel's catalog: when it changes (a server's `tools/list_changed`,
a new tool, a hot-reloaded tool folder, a rollback in another process), every connected
client is sent `notifications/tools/list_changed`: after code ran, and when
`follow_registry` sees the registry change.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp.types import CallToolResult, InputRequiredResult, Tool, ToolAnnotations

from toolkernel.bridge._channel import Progress
from toolkernel.bridge._create import CREATE_TOOL, create_tool, create_tool_spec
from toolkernel.bridge._relay import McpClientRelay
from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

if TYPE_CHECKING:
    from mcp.server.session import ServerSession

    from toolkernel.registry import ToolRegistry

__all__ = ["BridgeServer"]

EXPOSED_CALL_TIMEOUT_S = 3600.0
FOLLOW_INTERVAL_S = 0.25
"""How often `follow_registry` looks for registry changes (a cheap SQLite pragma)."""
MAX_CLIENTS = 64
"""How many client connections `follow_registry` notifies (the most recent ones)."""
CATCH_UP_S = 5.0
"""How long after a registry change the kernel's catalog is awaited to move."""


class BridgeServer(MCPServer):
    """The bridge's MCP server; with `expose=True` it also lists the kernel's tools."""

    def __init__(self, session: KernelSession, *, expose: bool, **kwargs: Any) -> None:
        self._events = InMemorySubscriptionBus()
        super().__init__(middleware=[self._track_client], subscriptions=self._events, **kwargs)
        self._session = session
        self._expose = expose
        self._exposed: dict[str, Tool] = {}
        self._digest: str | None = None
        # Handshake-era clients, newest last: one session per connection (each request
        # gets a new ServerSession; `client_params` is the connection's own object).
        self._clients: OrderedDict[int, ServerSession] = OrderedDict()

    async def list_tools(self) -> list[Tool]:
        """The bridge's own tools, then (with `--expose-tools`) every kernel tool."""
        own = await super().list_tools()
        # create_tool is listed where agents look for it: right after execute_code.
        after = next((i + 1 for i, tool in enumerate(own) if tool.name == "execute_code"), 0)
        own.insert(after, create_tool_spec())
        if not self._expose:
            return own
        await self.refresh_exposed()
        return own + list(self._exposed.values())

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Run an exposed tool in the kernel, or one of the bridge's own tools."""
        if name == CREATE_TOOL:
            result = await create_tool(self._session, arguments)
            if context is not None:
                await self.notify_if_changed(context)
            return result
        if self._expose and name not in self._exposed:
            await self.refresh_exposed()
        if self._expose and name in self._exposed:
            return await self._call_exposed(name, arguments, context)
        return await super().call_tool(name, arguments, context)

    async def refresh_exposed(self) -> bool:
        """Reload the kernel's catalog; return True when it changed since the last load."""
        try:
            catalog = await self._session.request("tools/catalog")
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

    async def follow_registry(
        self, registry: ToolRegistry, *, interval: float = FOLLOW_INTERVAL_S
    ) -> None:
        """Tell every client `tools/list_changed` when the kernel's catalog moves; runs forever.

        The registry is where any process's change lands (a hot-reloaded folder, the
        CLI, another kernel). After one, the kernel's catalog is read until it moves (the
        kernel follows the registry itself) or `CATCH_UP_S` passes.
        """
        if not self._expose:
            return
        seen, pending_until = registry.change_count(), 0.0
        while True:
            await anyio.sleep(interval)
            now = registry.change_count()
            if now != seen:
                seen, pending_until = now, time.monotonic() + CATCH_UP_S
            if pending_until and await self.refresh_exposed():
                pending_until = 0.0
                await self._broadcast_list_changed()
            elif pending_until and time.monotonic() > pending_until:
                pending_until = 0.0

    async def _broadcast_list_changed(self) -> None:
        """Tell every client: `subscriptions/listen` streams, and handshake-era sessions."""
        await self._events.publish(ToolsListChanged())
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):  # one gone client must not stop the rest
                await client.send_tool_list_changed()

    async def _track_client(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Middleware: remember each client's session, to notify it outside its requests."""
        params = ctx.session.client_params
        if params is not None:
            key = id(params)
            self._clients[key] = ctx.session
            self._clients.move_to_end(key)
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        return await call_next(ctx)

    async def _call_exposed(
        self, name: str, arguments: dict[str, Any], ctx: Context[Any, Any] | None
    ) -> CallToolResult:
        relay = McpClientRelay(ctx) if ctx is not None else None
        progress = _progress_to(ctx) if ctx is not None else None
        params = {"name": name, "arguments": arguments, "relay": relay is not None}
        try:
            result = await self._session.request(
                "tools/call",
                params,
                timeout=EXPOSED_CALL_TIMEOUT_S,
                on_progress=progress,
                relay=relay.ask if relay is not None else None,
            )
        except BridgeError as exc:
            result = {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        return CallToolResult.model_validate(
            {
                "content": result["content"],
                "structuredContent": result.get("structured"),
                "isError": result["is_error"],
            }
        )


def _progress_to(ctx: Context[Any, Any]) -> Progress:
    """Forward a call's progress to the client (when it asked with a progress token)."""

    async def report(progress: float, total: float | None, message: str | None) -> None:
        with contextlib.suppress(Exception):  # a client gone mid-call must not fail it
            await ctx.report_progress(progress, total, message)

    return report


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
