"""Start the bridge: the kernel first (so the first call is fast), then the transport."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
from mcp.server import MCPServer

from toolkernel.bridge._config import Bridge, bridge_flags
from toolkernel.bridge._gateway import GATEWAY_TOKEN_ENV_VAR, GatewayTarget
from toolkernel.bridge._http import BearerGuard, resolve_token, transport_security
from toolkernel.bridge._reply import ReplyLimits
from toolkernel.bridge._server import build_server
from toolkernel.bridge._session import KernelSession
from toolkernel.config import toolkernel_home
from toolkernel.errors import BridgeError
from toolkernel.kernelspec import KERNEL_NAME as DEFAULT_KERNEL_NAME
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.registry import ToolRegistry

__all__ = ["run_bridge"]

_Http = tuple[str, socket.socket]
"""The HTTP front's bearer token and listening socket."""


def run_bridge(bridge: Bridge) -> None:
    """Run the bridge until its client disconnects (stdio) or it is stopped (HTTP).

    Raises:
        BridgeError: The options name two kernels to drive (`--sandbox` and another
            kernelspec or a connection file count), or a gateway token without
            a gateway; or, over HTTP, the address is not loopback and no token is set,
            or the port cannot be bound.
    """
    connection_file, gateway = _kernel_target(bridge)
    kernel_name = _kernel_name(bridge)
    http: _Http | None = None
    if bridge.transport == "http":
        token, generated = resolve_token(bridge.host)
        if generated:
            print(f"toolkernel mcp: bearer token {token}", file=sys.stderr, flush=True)
        # Listening before the kernel starts: a taken port fails at once, and a client
        # that connects early waits in the backlog instead of being refused.
        http = (token, _listen(bridge.host, bridge.port))
    try:
        anyio.run(_serve, bridge, kernel_name, connection_file, gateway, http)
    finally:
        if http is not None:
            http[1].close()


def _kernel_name(bridge: Bridge) -> str:
    """The kernelspec to start: the sandboxed one with `--sandbox`."""
    if not bridge.sandbox:
        return bridge.kernel_name
    if bridge.kernel_name not in (DEFAULT_KERNEL_NAME, SANDBOXED_KERNEL_NAME):
        flags = bridge_flags()
        msg = (
            f"{flags['sandbox']} starts the {SANDBOXED_KERNEL_NAME} kernel, and "
            f"{flags['kernel_name']} names {bridge.kernel_name!r}: pass one of them"
        )
        raise BridgeError(msg)
    return SANDBOXED_KERNEL_NAME


def _kernel_target(bridge: Bridge) -> tuple[Path | None, GatewayTarget | None]:
    flags = bridge_flags()
    if bridge.sandbox and bridge.connection_file:
        msg = (
            f"{flags['sandbox']} starts a sandboxed kernel and {flags['connection_file']} "
            "names a running one: pass one of them"
        )
        raise BridgeError(msg)
    if bridge.gateway_url and bridge.connection_file:
        msg = (
            f"{flags['gateway_url']} and {flags['connection_file']} each name the kernel to "
            "drive: pass one of them"
        )
        raise BridgeError(msg)
    if bridge.gateway_url:
        token = bridge.gateway_token or os.environ.get(GATEWAY_TOKEN_ENV_VAR, "")
        return None, GatewayTarget(bridge.gateway_url, token, kernel_name=_kernel_name(bridge))
    if bridge.gateway_token:
        msg = (
            f"{flags['gateway_token']} needs {flags['gateway_url']} (the server the token is "
            "for): pass both, or neither"
        )
        raise BridgeError(msg)
    return (Path(bridge.connection_file) if bridge.connection_file else None), None


def _listen(host: str, port: int) -> socket.socket:
    address = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        flags = bridge_flags()
        msg = (
            f"cannot listen on {host} port {port}: {exc.strerror or exc}; pass another "
            f"{flags['port']}, or a {flags['host']} of this machine"
        )
        raise BridgeError(msg) from exc
    return sock


async def _serve(
    bridge: Bridge,
    kernel_name: str,
    connection_file: Path | None,
    gateway: GatewayTarget | None,
    http: _Http | None,
) -> None:
    session = KernelSession(
        kernel_name=kernel_name,
        connection_file=connection_file,
        gateway=gateway,
        max_tool_calls=bridge.max_tool_calls,
    )
    server = build_server(
        session,
        limits=ReplyLimits(output_chars=bridge.output_cap, image_bytes=bridge.image_cap),
        keepalive_s=bridge.keepalive_s,
        expose_tools=bridge.expose_tools,
        lifecycle_tools=bridge.lifecycle_tools,
    )
    try:
        # Inside the try: a start that fails half way (a gateway kernel created, then
        # never ready) is still shut down.
        await session.start()
        # A local kernel shares this machine's registry: follow its changes.
        follow = bridge.expose_tools and gateway is None
        with contextlib.closing(ToolRegistry(toolkernel_home())) if follow else _nothing() as reg:
            async with anyio.create_task_group() as tasks:
                if reg is not None:
                    tasks.start_soon(server.follow_registry, reg)
                if http is None:
                    await server.run_stdio_async()
                else:
                    await _serve_http(server, bridge, *http)
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await session.shutdown()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None


async def _serve_http(
    server: MCPServer, bridge: Bridge, token: str, listener: socket.socket
) -> None:
    import uvicorn  # noqa: PLC0415 - only for HTTP

    port: int = listener.getsockname()[1]  # the one bound, for a --port of 0
    security = transport_security(
        bridge.host, port, hosts=bridge.allow_hosts, origins=bridge.allow_origins
    )
    app = BearerGuard(
        server.streamable_http_app(host=bridge.host, transport_security=security), token=token
    )
    config = uvicorn.Config(app, host=bridge.host, port=port, log_level="warning")
    flags = bridge_flags()
    print(
        f"toolkernel mcp: accepting Host {', '.join(security.allowed_hosts)} (more with "
        f"{flags['allow_hosts']}) and browser Origins {', '.join(security.allowed_origins)} "
        f"(more with {flags['allow_origins']})",
        file=sys.stderr,
        flush=True,
    )
    print(
        f"toolkernel mcp: serving streamable HTTP at http://{bridge.host}:{port}/mcp",
        file=sys.stderr,
        flush=True,
    )
    await uvicorn.Server(config).serve(sockets=[listener])
