"""The bridge's MCP server: progressive discovery plus `execute_code` in a live kernel.

Discovery is answered by the kernel's own session over the typed channel (beside any
running cell), so the answers always match the bindings that code will use, whichever
kernel the bridge drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._lifecycle import add_lifecycle_tools
from toolkernel.bridge._relay import McpClientRelay
from toolkernel.bridge._reply import ReplyLimits, build_reply, full_text
from toolkernel.bridge._session import KernelSession
from toolkernel.errors import BridgeError

__all__ = ["INSTRUCTIONS", "build_server"]

INSTRUCTIONS = """\
Code mode over a persistent Jupyter kernel that holds a typed Python binding for every
tool. Find tools with search_tools (or list_tool_names), read one with get_tool_details,
then call them from Python with execute_code: `await tools.<server>.<tool>(arg=...)`.
Compose many calls in one execute_code (loops, asyncio.gather, try/except) and print
only what you need; variables persist between calls."""

_PREVIEW = 500


def build_server(
    session: KernelSession,
    *,
    limits: ReplyLimits | None = None,
    keepalive_s: float = 10.0,
    expose_tools: bool = False,
) -> BridgeServer:
    """Return the bridge's MCP server, driving `session` (which the caller starts).

    With `expose_tools`, every tool of the kernel's catalog is also an MCP tool.
    """
    caps = limits or ReplyLimits()
    server = BridgeServer(
        session, expose=expose_tools, name="toolkernel", instructions=INSTRUCTIONS
    )

    @server.tool(
        description=(
            "List every callable tool as 'server.tool', the path under `tools.` in "
            "execute_code. Give `server` to list one server's tools only."
        )
    )
    async def list_tool_names(
        server: Annotated[str | None, Field(description="Only this server's tools.")] = None,
    ) -> list[str]:
        names: list[str] = await _discover(session, "tools/names", {"server": server})
        return names

    @server.tool(
        description=(
            "Search tools by what they do (BM25 over names, descriptions and parameters). "
            "detail='name' gives names, 'summary' adds a one-line description and the "
            "Python signature, 'full' adds the docstring and JSON schemas."
        )
    )
    async def search_tools(
        query: Annotated[str, Field(description="What you want to do, in words.")],
        limit: Annotated[int, Field(description="Most results to return.", ge=1, le=100)] = 10,
        detail: Literal["name", "summary", "full"] = "summary",
    ) -> list[Any]:
        params = {"query": query, "limit": int(limit), "detail": detail}
        found: list[Any] = await _discover(session, "tools/search", params)
        return found

    @server.tool(
        description=(
            "Show how to call one tool from execute_code: its Python signature "
            "(`await tools.server.tool(...)`) and docstring. `name` is 'server.tool'."
        )
    )
    async def get_tool_details(
        name: Annotated[str, Field(description="The tool, as 'server.tool'.")],
    ) -> str:
        text: str = await _discover(session, "tools/details", {"name": name})
        return text

    @server.tool(
        description=(
            "Run Python in a persistent Jupyter kernel and return stdout, stderr and the "
            "value of the last expression. Top-level `await` works; call tools as "
            "`await tools.<server>.<tool>(arg=...)`. Variables persist between calls. "
            "Long output is cut and kept in a kernel variable named in the reply. "
            "input() asks you (elicitation); `await sample(prompt)` asks your model."
        )
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

    add_lifecycle_tools(server, session)
    return server


_DISCOVERY_TIMEOUT_S = 60.0


async def _discover(session: KernelSession, method: str, params: dict[str, Any]) -> Any:
    # The kernel answers from what is connected or cached, after a short bounded wait for
    # servers with no cached catalog, and notes which servers are connecting or failed.
    try:
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
