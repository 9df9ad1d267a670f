"""`--expose-tools`: every tool of the kernel's catalog, published as an MCP tool too.

Calls run inside the kernel through its session's one call path (`Toolbox.call_result`,
then `ToolHost.call`), like every other tool call, over the typed channel: the lock's
pins apply, progress comes back as MCP progress, and a server's sampling or elicitation
request reaches the calling client. The bridge opens no second connection to any server.

The list follows the kernel's catalog: when it changes (a server's `tools/list_changed`,
a new tool, a hot-reloaded tool folder, a rollback in another process), every connected
client is sent `notifications/tools/list_changed` (declared as `tools.listChanged`):
after code ran, and when `follow_registry` sees the registry change.

Exposed names are safe for every model API (`^[a-zA-Z0-9_-]{1,64}$`): `server.tool`
becomes `server__tool`, other characters become `_`, and a name that is too long or
taken is cut and given a short hash. Each exposed tool's `_meta["toolkernel/name"]`
(and its title, when the server gave none) is the original `server.tool`, the name
under `tools.` in `execute_code`; a call by that original name works too.

A tool whose result is not a JSON object (a WASM tool printing `42`, a pipeline
returning `[2, 3, 5]`) is exposed with its output wrapped as `{"result": ...}`, in its
output schema and in its `structuredContent`, as MCP requires both to be objects.

The server also declares MCP logging and honours `logging/setLevel` (per client):
`execute_code` sends a cell's output as log messages (see `build_server`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus, ToolsListChanged
from mcp.types import (
    CallToolResult,
    EmptyResult,
    InputRequiredResult,
    LoggingLevel,
    ServerCapabilities,
    SetLevelRequestParams,
    Tool,
    ToolAnnotations,
)

from toolkernel.bridge._channel import Progress
from toolkernel.bridge._create import CREATE_TOOL, create_tool, create_tool_spec
from toolkernel.bridge._lifecycle import LIFECYCLE_TOOLS
from toolkernel.bridge._relay import McpClientRelay
from toolkernel.bridge._sessions import KernelHandle
from toolkernel.errors import BridgeError

if TYPE_CHECKING:
    from mcp.server.session import ServerSession

    from toolkernel.registry import ToolRegistry

__all__ = ["ORIGINAL_NAME_KEY", "BridgeServer", "exposed_names"]

EXPOSED_CALL_TIMEOUT_S = 3600.0
FOLLOW_INTERVAL_S = 0.25
"""How often `follow_registry` looks for registry changes (a cheap SQLite pragma)."""
MAX_CLIENTS = 64
"""How many client connections `follow_registry` notifies (the most recent ones)."""
CATCH_UP_S = 5.0
"""How long after a registry change the kernel's catalog is awaited to move."""
ORIGINAL_NAME_KEY = "toolkernel/name"
"""The `_meta` key of an exposed tool that holds its original name, `server.tool`."""
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_LOG_LEVELS: tuple[LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)


class BridgeServer(MCPServer):
    """The bridge's MCP server.

    With `expose=True` it also lists the kernel's tools. With `lifecycle=True` it lists
    and serves `create_tool` (the other lifecycle tools are added by
    `add_lifecycle_tools`); without it, a call to a lifecycle tool is refused with a
    message saying where the function is. Tools named in `unlisted` are served but not
    listed (names older clients may still call).
    """

    def __init__(
        self,
        session: KernelHandle,
        *,
        expose: bool,
        lifecycle: bool = False,
        unlisted: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        self._events = InMemorySubscriptionBus()
        super().__init__(middleware=[self._track_client], subscriptions=self._events, **kwargs)
        self._session = session
        self._expose = expose
        self._lifecycle = lifecycle
        self._unlisted = unlisted
        self._exposed: dict[str, Tool] = {}
        self._originals: dict[str, str] = {}  # exposed name -> `server.tool`
        self._safe: dict[str, str] = {}  # `server.tool` -> exposed name
        self._wrapped: set[str] = set()  # exposed names whose output is `{"result": ...}`
        self._digest: str | None = None
        # Handshake-era clients, newest last: one session per connection (each request
        # gets a new ServerSession; `client_params` is the connection's own object).
        self._clients: OrderedDict[int, ServerSession] = OrderedDict()
        self._log_levels: OrderedDict[int, LoggingLevel] = OrderedDict()
        low = self._lowlevel_server
        low.add_request_handler("logging/setLevel", SetLevelRequestParams, self._set_level)
        if expose:
            _declare_tools_list_changed(low)

    async def list_tools(self) -> list[Tool]:
        """The bridge's own tools, then (with `--expose-tools`) every kernel tool."""
        own = [tool for tool in await super().list_tools() if tool.name not in self._unlisted]
        if self._lifecycle:
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
        if name in LIFECYCLE_TOOLS and not self._lifecycle:
            msg = (
                f"{name} is not an MCP tool of this bridge: use it inside execute_code "
                f"(help({name}) there says how), or start the bridge with --lifecycle-tools"
            )
            raise ToolError(msg)
        if name == CREATE_TOOL:
            result = await create_tool(self._session, arguments)
            if context is not None:
                await self.notify_if_changed(context)
            return result
        if self._expose:
            exposed = self._exposed_name(name)
            if exposed is None and await self.refresh_exposed():
                exposed = self._exposed_name(name)
            if exposed is not None:
                return await self._call_exposed(exposed, arguments, context)
        return await super().call_tool(name, arguments, context)

    def wants_log(self, ctx: Context[Any, Any], level: LoggingLevel) -> bool:
        """Whether the client behind `ctx` asked for log messages at `level` (setLevel)."""
        with contextlib.suppress(Exception):  # no request context: nobody set a level
            params = ctx.session.client_params
            floor = self._log_levels.get(id(params)) if params is not None else None
            if floor is not None:
                return _LOG_LEVELS.index(level) >= _LOG_LEVELS.index(floor)
        return True

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
    ) -> EmptyResult:
        """`logging/setLevel`: this client gets log messages at `params.level` and above."""
        client = ctx.session.client_params
        if client is not None:
            self._log_levels[id(client)] = params.level
            self._log_levels.move_to_end(id(client))
            while len(self._log_levels) > MAX_CLIENTS:
                self._log_levels.popitem(last=False)
        return EmptyResult()

    def _exposed_name(self, name: str) -> str | None:
        """The exposed name of `name`, given as exposed or as the original `server.tool`."""
        return name if name in self._exposed else self._safe.get(name)

    async def refresh_exposed(self) -> bool:
        """Reload the kernel's catalog; return True when it changed since the last load."""
        try:
            catalog = await self._session.request("tools/catalog")
        except BridgeError:
            return False
        if catalog["digest"] == self._digest:
            return False
        self._digest = catalog["digest"]
        specs = catalog["tools"]
        originals = [f"{spec['source']}.{spec['name']}" for spec in specs]
        names = exposed_names(originals)
        pairs = zip(specs, originals, strict=True)
        tools = [_mcp_tool(spec, names[original]) for spec, original in pairs]
        self._exposed = {tool.name: tool for tool in tools}
        self._originals = {names[original]: original for original in originals}
        self._safe = names
        self._wrapped = {tool.name for tool, spec in zip(tools, specs, strict=True) if _wraps(spec)}
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
        original = self._originals.get(name, name)
        # What the client can answer, so a script tool's context tells the truth.
        can = sorted(relay.capabilities) if relay is not None else []
        params = {"name": original, "arguments": arguments, "relay": can}
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
        structured = result.get("structured")
        if structured is not None and (name in self._wrapped or not isinstance(structured, dict)):
            structured = {"result": structured}
        return CallToolResult.model_validate(
            {
                "content": result["content"],
                "structuredContent": structured,
                "isError": result["is_error"],
            }
        )


def _progress_to(ctx: Context[Any, Any]) -> Progress:
    """Forward a call's progress to the client (when it asked with a progress token)."""

    async def report(progress: float, total: float | None, message: str | None) -> None:
        with contextlib.suppress(Exception):  # a client gone mid-call must not fail it
            await ctx.report_progress(progress, total, message)

    return report


def _declare_tools_list_changed(low: Server[Any]) -> None:
    """Make the handshake-era capabilities say `tools.listChanged: true`.

    The SDK derives capabilities from `NotificationOptions`, which its runners pass
    as defaults (all false); 2026-era clients learn it from `subscriptions/listen`,
    which is served.
    """
    declare = low.get_capabilities

    def get_capabilities(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
        *,
        protocol_version: str | None = None,
    ) -> ServerCapabilities:
        given = notification_options or NotificationOptions()
        options = NotificationOptions(
            prompts_changed=given.prompts_changed,
            resources_changed=given.resources_changed,
            tools_changed=True,
        )
        return declare(
            options, experimental_capabilities, extensions, protocol_version=protocol_version
        )

    low.get_capabilities = get_capabilities  # type: ignore[method-assign]


def exposed_names(originals: list[str]) -> dict[str, str]:
    """Map each `server.tool` to a name model APIs accept: `^[a-zA-Z0-9_-]{1,64}$`, unique.

    `server.tool` becomes `server__tool` with other characters replaced by `_`; a name
    longer than 64 characters, or already taken, is cut and ends in `_` plus 8 hex
    digits of the original's SHA-256. The same catalog always gives the same names.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for original in sorted(set(originals)):
        source, _, tool = original.partition(".")
        safe = _UNSAFE.sub("_", f"{source}__{tool}")
        if len(safe) > MAX_NAME or safe in taken:
            digest = hashlib.sha256(original.encode()).hexdigest()[:8]
            safe = f"{safe[: MAX_NAME - 9]}_{digest}"
        names[original] = safe
        taken.add(safe)
    return names


def _wraps(spec: dict[str, Any]) -> bool:
    """Whether the tool's output schema is not an object's (so it is exposed wrapped)."""
    schema = spec.get("output_schema")
    return isinstance(schema, dict) and schema.get("type") != "object"


def _mcp_tool(spec: dict[str, Any], name: str) -> Tool:
    annotations = spec.get("annotations") or None
    original = f"{spec['source']}.{spec['name']}"
    output = spec.get("output_schema")
    if _wraps(spec):
        output = {"type": "object", "properties": {"result": output}, "required": ["result"]}
    return Tool(
        name=name,
        title=spec.get("title") or original,
        description=spec.get("description") or None,
        input_schema=spec.get("input_schema") or {"type": "object"},
        output_schema=output,
        annotations=ToolAnnotations.model_validate(annotations) if annotations else None,
        _meta={ORIGINAL_NAME_KEY: original},
    )
