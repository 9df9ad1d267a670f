"""The bridge's MCP server: search, details and `execute_code` in a live kernel.

Discovery is answered by the kernel's own session over the typed channel (beside any
running cell), so the answers always match the bindings that code will use, whichever
kernel the bridge drives.

The server stays small, because every tool definition is paid for in a model's context
before any work is done: two read-only discovery tools and `execute_code`. Everything
else (`create_tool`, memory, versions, `list_tool_names`) is a function inside
`execute_code`; `lifecycle_tools=True` (`--lifecycle-tools`) also offers the lifecycle
functions as MCP tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, Tool, ToolAnnotations
from pydantic import Field

from toolkernel._version import __version__
from toolkernel.bridge._create import CREATE_TOOL
from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._lifecycle import LIFECYCLE_TOOLS, add_lifecycle_tools
from toolkernel.bridge._relay import McpClientRelay
from toolkernel.bridge._reply import ReplyLimits, build_reply, full_text
from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

__all__ = ["INSTRUCTIONS", "build_server"]

INSTRUCTIONS = """\
Code mode: every tool is an async Python function in a persistent Jupyter kernel.
search_tools finds tools, get_tool_details shows one's docstring, and execute_code runs
Python that calls them: `await tools.<server>.<tool>(arg=...)`. Do a whole task in one
execute_code (loops, asyncio.gather) and print only what you need; variables persist.
Also callable in code: create_tool, tool_versions, diff_tool, rollback_tool, memory,
list_tool_names."""

_PREVIEW = 500
_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_RUNS_CODE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)


def build_server(
    session: KernelSession,
    *,
    limits: ReplyLimits | None = None,
    keepalive_s: float = 10.0,
    expose_tools: bool = False,
    lifecycle_tools: bool = False,
) -> BridgeServer:
    """Return the bridge's MCP server, driving `session` (which the caller starts).

    It offers `search_tools`, `get_tool_details` and `execute_code`. With
    `lifecycle_tools`, also `create_tool`, `memory`, `tool_versions`, `diff_tool` and
    `rollback_tool`; with `expose_tools`, every tool of the kernel's catalog too.
    """
    caps = limits or ReplyLimits()
    server = _CodeModeServer(
        session,
        expose=expose_tools,
        lifecycle=lifecycle_tools,
        name="toolkernel",
        version=__version__,
        instructions=INSTRUCTIONS,
    )

    @server.tool(
        description=(
            "Find tools by what they do (BM25), best first, one line each: "
            "`server.tool(signature) — description`. An empty query lists tools; "
            "`server` keeps one server's."
        ),
        annotations=_READ_ONLY,
        structured_output=False,
    )
    async def search_tools(
        query: str = "",
        server: str = "",
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
    ) -> str:
        listing = not query.strip()
        # A listing asks for one more line than it shows: it tells whether it was cut.
        wanted = limit + 1 if listing else limit
        params = {"query": query, "limit": wanted, "detail": "line", "server": server or None}
        lines: list[str] = await _discover(session, "tools/search", params)
        if not lines:
            return "no tools yet" if listing else f"no tool matches {query!r}"
        if len(lines) > limit:
            lines[limit:] = ["(more: give a query or a server, or raise the limit)"]
        return "\n".join(lines)

    @server.tool(
        description="How to call one tool ('server.tool'): its signature and docstring.",
        annotations=_READ_ONLY,
        structured_output=False,
    )
    async def get_tool_details(name: str) -> str:
        text: str = await _discover(session, "tools/details", {"name": name})
        return text

    @server.tool(
        description=(
            "Run Python in the kernel (top-level await; variables persist) and return "
            "stdout, stderr and the last expression's value. Long output is cut and kept "
            "in a kernel variable the reply names. input() asks you; `await "
            "sample(prompt)` asks your model."
        ),
        annotations=_RUNS_CODE,
    )
    async def execute_code(
        ctx: Context,
        code: Annotated[str, Field(description="Python source to run as one cell.")],
        timeout_s: Annotated[
            float, Field(description="Seconds before the cell is interrupted.", gt=0)
        ] = 60,
    ) -> CallToolResult:
        stream = _Stream(ctx)
        keepalive = asyncio.create_task(stream.keepalive(keepalive_s))
        try:
            out = await session.execute(
                code, timeout=timeout_s, on_output=stream.output, relay=McpClientRelay(ctx)
            )
        except BridgeError as exc:
            raise ToolError(str(exc)) from exc
        finally:
            keepalive.cancel()
        await server.notify_if_changed(ctx)
        n = out.execution_count or 0
        stashed = kept_images = False
        text = full_text(out)
        if len(text) > caps.output_chars and not out.restarted:
            stashed = await _keep(session, {"table": "_bridge_output", "key": n, "text": text})
        big = [data for _, data in out.images if len(data) > caps.image_bytes]
        if big and not out.restarted:
            kept_images = await _keep(session, {"table": "_bridge_images", "key": n, "images": big})
        return build_reply(out, caps, stashed=stashed, kept_images=kept_images)

    if lifecycle_tools:
        add_lifecycle_tools(server, session)
    return server


class _CodeModeServer(BridgeServer):
    """The bridge's server: `create_tool` is offered only with the lifecycle tools.

    `BridgeServer` lists and serves `create_tool` itself (its schema is `ToolDraft`'s,
    not a function's); without `lifecycle`, this hides and refuses it like the rest.
    """

    def __init__(self, session: KernelSession, *, lifecycle: bool, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self._lifecycle = lifecycle

    async def list_tools(self) -> list[Tool]:
        """The bridge's tools (with `--lifecycle-tools`, `create_tool` among them)."""
        tools = await super().list_tools()
        return tools if self._lifecycle else [t for t in tools if t.name != CREATE_TOOL]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a lifecycle tool without `--lifecycle-tools` says where it is."""
        if name in LIFECYCLE_TOOLS and not self._lifecycle:
            msg = (
                f"{name} is not an MCP tool of this bridge: use it inside execute_code "
                f"(help({name}) there says how), or start the bridge with --lifecycle-tools"
            )
            raise ToolError(msg)
        return await super().call_tool(name, arguments, context)


_DISCOVERY_TIMEOUT_S = 60.0


async def _discover(session: KernelSession, method: str, params: dict[str, Any]) -> Any:
    # On a fresh kernel, servers without a cached catalog are still connecting: wait for
    # their first attempt (bounded; instant once settled) before answering.
    try:
        await session.request("session/ready", {}, timeout=_DISCOVERY_TIMEOUT_S)
        return await session.request(method, params, timeout=_DISCOVERY_TIMEOUT_S)
    except BridgeError as exc:
        raise ToolError(str(exc)) from exc


async def _keep(session: KernelSession, params: dict[str, Any]) -> bool:
    """Keep what a reply leaves out in the kernel, as `<table>[key]`."""
    try:
        await session.request("kernel/keep", params)
    except BridgeError:
        return False
    return True


class _Stream:
    """Forwards a running cell's output as MCP progress and log notifications."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._count = 0
        self._started = time.monotonic()

    async def output(self, name: str, text: str) -> None:
        self._count += 1
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await self._ctx.report_progress(self._count, None, text[:_PREVIEW])
            await self._ctx.log("error" if name == "stderr" else "info", text)

    async def keepalive(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self._count += 1
            elapsed = time.monotonic() - self._started
            with contextlib.suppress(Exception):
                await self._ctx.report_progress(self._count, None, f"running for {elapsed:.0f} s")
