"""Start the bridge: the kernel first (so the first call is fast), then the transport."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from toolkernel.bridge._config import Bridge, bridge_flags
from toolkernel.bridge._expose import BridgeServer
from toolkernel.bridge._gateway import GATEWAY_TOKEN_ENV_VAR, GatewayTarget
from toolkernel.bridge._http import (
    ASGIApp,
    BearerGuard,
    SessionGate,
    resolve_token,
    transport_security,
)
from toolkernel.bridge._pool import KernelPool
from toolkernel.bridge._reply import ReplyLimits
from toolkernel.bridge._server import build_server
from toolkernel.bridge._session import KernelSession
from toolkernel.bridge._sessions import KernelHandle, SessionKernels
from toolkernel.bridge._stdio import serve_stdio
from toolkernel.config import toolkernel_home
from toolkernel.errors import BridgeError
from toolkernel.kernelspec import KERNEL_NAME as DEFAULT_KERNEL_NAME
from toolkernel.kernelspec import SANDBOXED_KERNEL_NAME
from toolkernel.registry import ToolRegistry

if TYPE_CHECKING:
    import uvicorn

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
        return None, GatewayTarget(
            bridge.gateway_url, token, kernel_name=_kernel_name(bridge), env=_gateway_env(bridge)
        )
    for option in ("gateway_token", "gateway_env"):
        if getattr(bridge, option):
            msg = (
                f"{flags[option]} needs {flags['gateway_url']} (the server it is for): pass "
                f"{flags['gateway_url']} too, or drop {flags[option]}"
            )
            raise BridgeError(msg)
    return (Path(bridge.connection_file) if bridge.connection_file else None), None


def _gateway_env(bridge: Bridge) -> dict[str, str]:
    """The `--gateway-env NAME=VALUE` entries, as the environment a kernel start asks for."""
    env: dict[str, str] = {}
    for entry in bridge.gateway_env:
        name, sep, value = entry.partition("=")
        if not sep or not name.isidentifier():
            msg = (
                f"{bridge_flags()['gateway_env']} takes NAME=VALUE (a variable name, then =), "
                f"not {entry!r}"
            )
            raise BridgeError(msg)
        env[name] = value
    return env


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
    def new_kernel() -> KernelSession:
        return KernelSession(
            kernel_name=kernel_name,
            connection_file=connection_file,
            gateway=gateway,
            max_tool_calls=bridge.max_tool_calls,
        )

    # Over HTTP each session gets its own kernel, unless the one kernel is given.
    if http is not None and connection_file is None:
        await _serve_sessions(bridge, new_kernel, gateway is None, http)
        return
    session = new_kernel()
    server = _build(bridge, session)
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
                    await serve_stdio(server)
                else:
                    await _serve_http(server, bridge, *http)
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await session.shutdown()


async def _serve_sessions(
    bridge: Bridge, new_kernel: Callable[[], KernelSession], local: bool, http: _Http
) -> None:
    """Serve HTTP with a kernel per MCP session, from a warm pool."""
    pool = KernelPool(new_kernel, size=bridge.pool_size)
    kernels = SessionKernels(
        pool, idle_timeout=bridge.session_idle_timeout, max_sessions=bridge.max_sessions
    )
    server = _build(bridge, kernels)
    try:
        pool.start()
        follow = bridge.expose_tools and local
        with contextlib.closing(ToolRegistry(toolkernel_home())) if follow else _nothing() as reg:
            async with anyio.create_task_group() as tasks:
                if reg is not None:
                    tasks.start_soon(server.follow_registry, reg)
                await _serve_http(server, bridge, *http, kernels=kernels)
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await kernels.close_all()


def _build(bridge: Bridge, kernel: KernelHandle) -> BridgeServer:
    return build_server(
        kernel,
        limits=ReplyLimits(output_chars=bridge.output_cap, image_bytes=bridge.image_cap),
        keepalive_s=bridge.keepalive_s,
        expose_tools=bridge.expose_tools,
        lifecycle_tools=bridge.lifecycle_tools,
    )


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield None


async def _serve_http(
    server: MCPServer,
    bridge: Bridge,
    token: str,
    listener: socket.socket,
    *,
    kernels: SessionKernels | None = None,
) -> None:
    port: int = listener.getsockname()[1]  # the one bound, for a --port of 0
    security = transport_security(
        bridge.host, port, hosts=bridge.allow_hosts, origins=bridge.allow_origins
    )
    if kernels is None:
        sdk = server.streamable_http_app(host=bridge.host, transport_security=security)
        await _serve_uvicorn(BearerGuard(sdk, token=token), bridge, listener, security)
        return
    # The gate owns the session limit and the idle cull (it tells a client why).
    sdk = server.streamable_http_app(
        host=bridge.host,
        transport_security=security,
        session_idle_timeout=None,
        max_sessions=None,
    )
    gate = SessionGate(sdk, kernels=kernels)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(kernels.cull_idle, gate.end_session)
        await _serve_uvicorn(BearerGuard(gate, token=token), bridge, listener, security)
        tasks.cancel_scope.cancel()


async def _serve_uvicorn(
    app: ASGIApp, bridge: Bridge, listener: socket.socket, security: TransportSecuritySettings
) -> None:
    import uvicorn  # noqa: PLC0415 - only for HTTP

    port: int = listener.getsockname()[1]
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
    await _stoppable_server(config).serve(sockets=[listener])


def _stoppable_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that stops on SIGINT or SIGTERM without ending the process.

    uvicorn raises a caught signal again once it has stopped, which ends the process
    before the bridge shuts its kernels down: a gateway's kernels would outlive it.
    """
    import uvicorn  # noqa: PLC0415 - only for HTTP

    class Stoppable(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            stops = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Stoppable(config)
