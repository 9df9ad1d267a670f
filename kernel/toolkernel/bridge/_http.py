"""Streamable HTTP for the bridge: loopback by default, a bearer token, checked Host and Origin.

The token guards every request (401 without it, `BearerGuard`). The MCP SDK's transport
security (`transport_security`) refuses a Host header other than the bridge's own
address (421) and a browser page on another origin (403), even with a token, which
stops DNS-rebinding attacks on a local bridge. Between the two, `SessionGate` gives
each MCP session its kernel: it refuses a session over the limit (503), tells a client
whose session was culled that its state is gone (404), and serves `/status`.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from mcp.server.transport_security import TransportSecuritySettings

from toolkernel.errors import BridgeError

if TYPE_CHECKING:
    from toolkernel.bridge._sessions import SessionKernels

__all__ = [
    "TOKEN_ENV_VAR",
    "BearerGuard",
    "SessionGate",
    "is_loopback",
    "lost_message",
    "resolve_token",
    "transport_security",
]

log = logging.getLogger("toolkernel.bridge")

TOKEN_ENV_VAR = "TOOLKERNEL_BRIDGE_TOKEN"  # noqa: S105 - the variable's name, not a secret

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNAUTHORIZED = (
    f"send Authorization: Bearer <token>, with the token from {TOKEN_ENV_VAR} or the one "
    "the bridge printed when it started"
)


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str) -> tuple[str, bool]:
    """Return the bearer token and whether it was generated here.

    Raises:
        BridgeError: `host` is not loopback and no token was given in the environment.
    """
    token = os.environ.get(TOKEN_ENV_VAR, "")
    if token:
        return token, False
    if not is_loopback(host):
        msg = (
            f"refusing to serve on {host} without a token: set {TOKEN_ENV_VAR} to a long "
            "random secret, or bind 127.0.0.1"
        )
        raise BridgeError(msg)
    return secrets.token_urlsafe(32), True


def transport_security(
    host: str, port: int, *, hosts: Iterable[str] = (), origins: Iterable[str] = ()
) -> TransportSecuritySettings:
    """Return the SDK's DNS-rebinding settings for a bridge bound to `host`:`port`.

    Allowed Host headers are the bound address (all loopback names when it is
    loopback; loopback names and this machine's names for a wildcard like 0.0.0.0)
    plus `hosts`. Allowed Origins are `http://` and each of those own addresses, plus
    `origins`.
    """
    own = (a for name in _own_names(host) for a in _authorities(name, port))
    authorities = list(dict.fromkeys(own))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*authorities, *hosts],
        allowed_origins=[*(f"http://{a}" for a in authorities), *origins],
    )


def _own_names(host: str) -> list[str]:
    names = [host]
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard:
        names = [socket.gethostname(), socket.getfqdn()]
    if wildcard or is_loopback(host):
        names += ["127.0.0.1", "localhost", "::1"]
    return names


def _authorities(name: str, port: int) -> tuple[str, ...]:
    # A Host header brackets an IPv6 address, and leaves out the default port 80.
    bracketed = f"[{name}]" if ":" in name and not name.startswith("[") else name
    with_port = f"{bracketed}:{port}"
    return (with_port, bracketed) if port == 80 else (with_port,)


class BearerGuard:
    """ASGI middleware: require `Authorization: Bearer <token>` (401 otherwise)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await _deny(send, _UNAUTHORIZED)
            return
        await self._app(scope, receive, send)


async def _deny(send: Send, message: str) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"www-authenticate", b'Bearer realm="toolkernel"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": message.encode()})


def lost_message(session_id: str, idle: float, timeout: float) -> str:
    """What a client coming back to a session culled as idle is told."""
    return (
        f"session {session_id} was idle for {idle:.1f} s (the bridge's session_idle_timeout "
        f"is {timeout:g} s), so its kernel was shut down and its variables are gone: start "
        "a new session (initialize without an Mcp-Session-Id) and run your setup again"
    )


_SESSION_HEADER = b"mcp-session-id"
_STATUS_PATH = "/status"
# JSON-RPC error codes: the SDK's "Session not found" one, and a server error.
_INVALID_REQUEST = -32600
_SERVER_ERROR = -32000


class SessionGate:
    """ASGI middleware in front of the MCP app: a kernel per session, and its limits.

    - A request that opens a session (no `Mcp-Session-Id`) is refused with 503 and a
      JSON-RPC error when `max_sessions` are open; once the SDK answers it with a
      session id, that session takes a kernel from the pool.
    - A request for a session culled as idle gets 404 and a JSON-RPC error saying its
      kernel and variables are gone (404 is what makes an MCP client start over).
    - A session's POST marks it active until answered (an open GET stream does not
      keep it active: idle means no MCP request); a DELETE that ends it shuts its
      kernel down.
    - `GET /status` answers the sessions and the pool's state as JSON.
    """

    def __init__(self, app: ASGIApp, *, kernels: SessionKernels, path: str = "/mcp") -> None:
        """Guard `app` (the SDK's streamable HTTP app, serving MCP at `path`)."""
        self._app = app
        self._kernels = kernels
        self._path = path
        self._host = b"127.0.0.1"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if scope["path"] == _STATUS_PATH and scope["method"] == "GET":
            await _json(send, 200, self.status())
            return
        headers = dict(scope.get("headers") or [])
        self._host = headers.get(b"host", self._host)
        session_id = headers.get(_SESSION_HEADER, b"").decode("latin-1")
        if not session_id:
            await self._open(scope, receive, send)
            return
        idle = self._kernels.lost(session_id)
        if idle is not None:
            await _json(send, 404, _rpc_error(_INVALID_REQUEST, self._lost(session_id, idle)))
            return
        if scope["method"] == "DELETE":
            status = await _answer(self._app, scope, receive, send)
            if status is not None and status < 400:
                await self._kernels.close(session_id)
            return
        if scope["method"] != "POST":  # an open GET stream alone does not keep it
            self._kernels.touch(session_id)
            await self._app(scope, receive, send)
            return
        with self._kernels.active(session_id):
            await self._app(scope, receive, send)

    def status(self) -> dict[str, Any]:
        """The sessions open and the limit, and the pool's state (`PoolStats`)."""
        return {
            "sessions": self._kernels.count,
            "max_sessions": self._kernels.max_sessions,
            "session_idle_timeout": self._kernels.idle_timeout,
            "pool": dataclasses.asdict(self._kernels.pool.stats),
        }

    async def end_session(self, session_id: str) -> None:
        """End a session in the MCP app as its client's DELETE would (after a cull)."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": self._path,
            "raw_path": self._path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", self._host), (_SESSION_HEADER, session_id.encode())],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
        }

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        status = await _answer(self._app, scope, receive, send)
        if status is None or status >= 400:
            log.warning("ending culled session %s in the MCP app answered %s", session_id, status)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        if not self._kernels.reserve():
            await _json(send, 503, _rpc_error(_SERVER_ERROR, self._full()))
            return
        opened = b""

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened = dict(message.get("headers") or []).get(_SESSION_HEADER, b"")
                if opened:
                    self._kernels.open(opened.decode("latin-1"))
            await send(message)

        try:
            await self._app(scope, receive, watch)
        finally:
            self._kernels.release()

    def _lost(self, session_id: str, idle: float) -> str:
        return lost_message(session_id, idle, self._kernels.idle_timeout)

    def _full(self) -> str:
        limit = self._kernels.max_sessions
        return (
            f"the bridge already serves its maximum of {limit} sessions (max_sessions), "
            "each with its own kernel: end a session you no longer use (HTTP DELETE with "
            "its Mcp-Session-Id), retry when one has ended or gone idle, or start the "
            "bridge with a higher --max-sessions"
        )


def _rpc_error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _answer(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int | None:
    """Run `app` for one request; return the HTTP status it answered with."""
    status: int | None = None

    async def watch(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, receive, watch)
    return status
