"""Streamable HTTP for the bridge: loopback by default, a bearer token, checked Host and Origin.

The token guards every request (401 without it, `BearerGuard`). The MCP SDK's transport
security (`transport_security`) refuses a Host header other than the bridge's own
address (421) and a browser page on another origin (403), even with a token, which
stops DNS-rebinding attacks on a local bridge.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from toolkernel.errors import BridgeError

__all__ = [
    "TOKEN_ENV_VAR",
    "BearerGuard",
    "is_loopback",
    "resolve_token",
    "transport_security",
]

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
