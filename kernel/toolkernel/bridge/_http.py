"""Streamable HTTP for the bridge: loopback by default, a bearer token, checked Origins.

The token guards every request (401 without it). A browser page on another origin is
refused (403) even with a token, which stops DNS-rebinding attacks on a local bridge.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from toolkernel.errors import BridgeError

__all__ = ["TOKEN_ENV_VAR", "BearerAndOriginGuard", "is_loopback", "resolve_token"]

TOKEN_ENV_VAR = "TOOLKERNEL_BRIDGE_TOKEN"  # noqa: S105 - the variable's name, not a secret

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


class BearerAndOriginGuard:
    """ASGI middleware: require `Authorization: Bearer <token>` and an allowed Origin."""

    def __init__(self, app: ASGIApp, *, token: str, allowed_origins: set[str]) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and origin not in self._origins:
            await _deny(send, 403, f"origin {origin} is not allowed")
            return
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await _deny(send, 401, "a bearer token is required (Authorization: Bearer ...)")
            return
        await self._app(scope, receive, send)


async def _deny(send: Send, status: int, message: str) -> None:
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="toolkernel"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
