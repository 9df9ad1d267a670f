"""Start the bridge: the kernel first (so the first call is fast), then the transport."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
from mcp.server import MCPServer

from toolkernel.bridge._gateway import GatewayTarget
from toolkernel.bridge._http import BearerAndOriginGuard, resolve_token
from toolkernel.bridge._reply import ReplyLimits
from toolkernel.bridge._server import build_server
from toolkernel.bridge._session import KernelSession
from toolkernel.config import toolkernel_home
from toolkernel.errors import BridgeError
from toolkernel.registry import ToolRegistry

__all__ = ["BridgeOptions", "run_bridge"]


@dataclass(frozen=True)
class BridgeOptions:
    """How `toolkernel mcp` runs.

    Attributes:
        transport: `stdio` (default) or `http` (streamable HTTP).
        host: Address to bind for HTTP; loopback unless a token is set.
        port: Port for HTTP.
        connection_file: Drive this running kernel instead of starting one.
        gateway: Start the kernel on this Jupyter Server or gateway instead.
        kernel_name: Kernelspec of the kernel the bridge starts.
        limits: Output and image caps of a reply.
        keepalive_s: Seconds between progress keepalives while a cell runs.
        allowed_origins: Extra browser origins allowed over HTTP.
        expose_tools: Also publish every kernel tool as an MCP tool.
    """

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = 8848
    connection_file: Path | None = None
    gateway: GatewayTarget | None = None
    kernel_name: str = "toolkernel"
    limits: ReplyLimits = field(default_factory=ReplyLimits)
    keepalive_s: float = 10.0
    allowed_origins: tuple[str, ...] = ()
    expose_tools: bool = False

    def __post_init__(self) -> None:
        if self.gateway is not None and self.connection_file is not None:
            msg = (
                "--gateway-url and --connection-file each name the kernel to drive: "
                "pass one of them"
            )
            raise BridgeError(msg)


def run_bridge(options: BridgeOptions) -> None:
    """Run the bridge until its client disconnects (stdio) or it is stopped (HTTP)."""
    anyio.run(_serve, options)


async def _serve(options: BridgeOptions) -> None:
    token = ""
    if options.transport == "http":
        token, generated = resolve_token(options.host)
        if generated:
            print(f"toolkernel mcp: bearer token {token}", file=sys.stderr, flush=True)
    session = KernelSession(
        kernel_name=options.kernel_name,
        connection_file=options.connection_file,
        gateway=options.gateway,
    )
    server = build_server(
        session,
        limits=options.limits,
        keepalive_s=options.keepalive_s,
        expose_tools=options.expose_tools,
    )
    try:
        # Inside the try: a start that fails half way (a gateway kernel created, then
        # never ready) is still shut down.
        await session.start()
        # A local kernel shares this machine's registry: follow its changes.
        follow = options.expose_tools and options.gateway is None
        with contextlib.closing(ToolRegistry(toolkernel_home())) if follow else _nothing() as reg:
            async with anyio.create_task_group() as tasks:
                if reg is not None:
                    tasks.start_soon(server.follow_registry, reg)
                if options.transport == "stdio":
                    await server.run_stdio_async()
                else:
                    await _serve_http(server, options, token)
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await session.shutdown()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None


async def _serve_http(server: MCPServer, options: BridgeOptions, token: str) -> None:
    import uvicorn  # noqa: PLC0415 - only for HTTP

    loopback = {f"http://{h}:{options.port}" for h in ("127.0.0.1", "localhost", "[::1]")}
    app = BearerAndOriginGuard(
        server.streamable_http_app(host=options.host),
        token=token,
        allowed_origins=loopback | set(options.allowed_origins),
    )
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level="warning")
    print(
        f"toolkernel mcp: serving streamable HTTP at http://{options.host}:{options.port}/mcp",
        file=sys.stderr,
        flush=True,
    )
    await uvicorn.Server(config).serve()
