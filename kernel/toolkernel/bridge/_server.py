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
import re
import time
import warnings
from typing import Annotated, Any, cast, get_args

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    LoggingLevel,
    ToolAnnotations,
)
from pydantic import Field

from toolkernel._version import __version__
from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._lifecycle import add_lifecycle_tools
from toolkernel.bridge._relay import McpClientRelay
from toolkernel.bridge._reply import ReplyLimits, build_reply, full_text
from toolkernel.bridge._sessions import KernelHandle, SessionKernels
from toolkernel.errors import BridgeError

__all__ = ["INSTRUCTIONS", "build_server"]

INSTRUCTIONS = """\
Code mode: every tool is an async Python function in a persistent Jupyter kernel.
search_tools finds tools, get_tool_details shows one's docstring, and execute_code runs
Python that calls them: `await tools.<server>.<tool>(arg=...)`. Do a whole task in one
execute_code (loops, asyncio.gather) and print only what you need; variables persist.
Also callable in code: create_tool, tool_versions, diff_tool, rollback_tool, delete_tool,
restore_tool, memory, list_tool_names, add_server, remove_server, read_resource,
call_history."""

_PREVIEW = 500
_NOTE = "note: "
_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_RUNS_CODE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)


def build_server(
    session: KernelHandle,
    *,
    limits: ReplyLimits | None = None,
    keepalive_s: float = 10.0,
    expose_tools: bool = False,
    lifecycle_tools: bool = False,
) -> BridgeServer:
    """Return the bridge's MCP server, driving `session` (which the caller starts).

    `session` is one kernel (`KernelSession`: stdio, or a kernel every client shares),
    or `SessionKernels`, which runs each MCP session's requests on its own kernel.

    It offers `search_tools`, `get_tool_details` and `execute_code`. With
    `lifecycle_tools`, also `create_tool`, `memory`, `tool_versions`, `diff_tool`,
    `rollback_tool`, `delete_tool` and `restore_tool`; with `expose_tools`, every tool
    of the kernel's catalog too.
    """
    caps = limits or ReplyLimits()
    server = BridgeServer(
        session,
        expose=expose_tools,
        lifecycle=lifecycle_tools,
        unlisted=frozenset({"list_tool_names"}),
        name="toolkernel",
        version=__version__,
        instructions=INSTRUCTIONS,
    )
    if isinstance(session, SessionKernels):
        server.middleware.append(session.middleware)

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
        answer: list[str] = await _discover(session, "tools/search", params)
        # The kernel ends the answer with notes on servers still connecting or failed.
        notes = [line for line in answer if line.startswith(_NOTE)]
        lines = [line for line in answer if not line.startswith(_NOTE)]
        if not lines:
            lines = ["no tools yet" if listing else f"no tool matches {query!r}"]
        elif len(lines) > limit:
            lines[limit:] = ["(more: give a query or a server, or raise the limit)"]
        return "\n".join([*lines, *notes])

    # Not listed (search_tools with an empty query lists tools, with signatures), but
    # still served: clients written against earlier bridges call it.
    @server.tool(description="List tools as 'server.tool'.", annotations=_READ_ONLY)
    async def list_tool_names(server: str | None = None) -> list[str]:
        names: list[str] = await _discover(session, "tools/names", {"server": server})
        return names

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
        stream = _Stream(ctx, server)
        keepalive = asyncio.create_task(stream.keepalive(keepalive_s))
        try:
            out = await session.execute(
                code, timeout=timeout_s, events=stream, relay=McpClientRelay(ctx)
            )
        except BridgeError as exc:
            raise ToolError(str(exc)) from exc
        finally:
            keepalive.cancel()
            stream.close()
        await stream.flush()
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


_DISCOVERY_TIMEOUT_S = 60.0


async def _discover(session: KernelHandle, method: str, params: dict[str, Any]) -> Any:
    # The kernel answers from what is connected or cached, after a short bounded wait for
    # servers with no cached catalog, and notes which servers are connecting or failed.
    try:
        return await session.request(method, params, timeout=_DISCOVERY_TIMEOUT_S)
    except BridgeError as exc:
        raise ToolError(str(exc)) from exc


async def _keep(session: KernelHandle, params: dict[str, Any]) -> bool:
    """Keep what a reply leaves out in the kernel, as `<table>[key]`."""
    try:
        await session.request("kernel/keep", params)
    except BridgeError:
        return False
    return True


class _Stream:
    """Sends a running cell's events to the client, each kind on one channel.

    - Output text (stdout, stderr, shown values) goes as MCP log messages, whose logger
      is the stream: stdout and shown values at `info`, stderr at `warning`, or at the
      level a Python logging line names (`ERROR:root:...`), a traceback at `error`.
    - A tool's log message (`LOG_MIME`) goes as a log message at its own level, with
      the tool as logger.
    - A tool's progress (`PROGRESS_MIME`), and a keepalive every `keepalive_s`, go as
      MCP progress. Updates closer than `_PROGRESS_EVERY_S` are merged (the latest
      wins, and is sent before the reply). The progress value counts notifications,
      so it always increases; the message says `label progress/total: message`.

    The reply holds the output text again (it is the result); progress never.
    Log messages below the client's `logging/setLevel` are not sent.
    """

    def __init__(self, ctx: Context, server: BridgeServer) -> None:
        self._ctx = ctx
        self._server = server
        self._count = 0
        self._started = time.monotonic()
        self._sent_at = 0.0
        self._latest: str | None = None
        self._later: asyncio.Task[None] | None = None

    async def output(self, name: str, text: str) -> None:
        logger = "stdout" if name == "display" else name
        for level, chunk in _levelled(name, text):
            await self.log(level, logger, chunk)

    async def log(self, level: str, logger: str, text: str) -> None:
        mcp_level = cast("LoggingLevel", level if level in _LEVELS else "info")
        if not text or not self._server.wants_log(self._ctx, mcp_level):
            return
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK marks logging deprecated for 2026
            await self._ctx.log(mcp_level, text, logger_name=logger or None)

    async def progress(self, update: dict[str, Any]) -> None:
        self._latest = _progress_text(update)
        wait = self._sent_at + _PROGRESS_EVERY_S - time.monotonic()
        if wait <= 0:
            await self._send_latest()
        elif self._later is None:
            self._later = asyncio.create_task(self._send_after(wait))

    async def keepalive(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            elapsed = time.monotonic() - self._started
            await self._report(f"running for {elapsed:.0f} s")

    def close(self) -> None:
        """Stop the rate limit's timer (the cell is over)."""
        if self._later is not None:
            self._later.cancel()
            self._later = None

    async def flush(self) -> None:
        """Send a merged progress update still waiting, so the last state arrives."""
        self.close()
        await self._send_latest()

    async def _send_after(self, wait: float) -> None:
        await asyncio.sleep(wait)  # the rate limit: merge what arrives meanwhile
        self._later = None
        await self._send_latest()

    async def _send_latest(self) -> None:
        message, self._latest = self._latest, None
        if message is not None:
            self._sent_at = time.monotonic()
            await self._report(message)

    async def _report(self, message: str) -> None:
        self._count += 1
        with contextlib.suppress(Exception):  # a client gone mid-call must not fail it
            await self._ctx.report_progress(self._count, None, message[:_PREVIEW])


_PROGRESS_EVERY_S = 0.2
_LEVELS = frozenset(get_args(LoggingLevel))
_LOGGING_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)[: ]")


def _levelled(name: str, text: str) -> list[tuple[str, str]]:
    """Split a piece of output into `(MCP level, text)` runs, without a final newline.

    stdout is `info`. On stderr, a line that starts like Python logging's default
    format (`WARNING:name:...`) has that level, `Traceback ...` is `error`, other lines
    continue the level of the line before (the first is `warning`).
    """
    if name != "stderr":
        return [("info", text.rstrip("\n"))]
    runs: list[tuple[str, list[str]]] = []
    level = "warning"
    for line in text.rstrip("\n").split("\n"):
        match = _LOGGING_LINE.match(line)
        if match:
            level = match.group(1).lower()
        elif line.startswith("Traceback (most recent call last)"):
            level = "error"
        if runs and runs[-1][0] == level:
            runs[-1][1].append(line)
        else:
            runs.append((level, [line]))
    return [(level, "\n".join(lines)) for level, lines in runs]


def _progress_text(update: dict[str, Any]) -> str:
    """`label progress/total: message` for one progress update."""
    progress, total = update.get("progress"), update.get("total")
    amount = f"{_num(progress)}/{_num(total)}" if total else _num(progress)
    message = update.get("message")
    return f"{update.get('label', '')} {amount}" + (f": {message}" if message else "")


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
