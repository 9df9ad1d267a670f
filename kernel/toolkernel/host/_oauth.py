"""OAuth sign-in for remote servers whose `mcp.json` entry says `"auth": "oauth"`.

The MCP SDK's `OAuthClientProvider` (an `httpx2.Auth`) does the protocol: discovery,
dynamic client registration, PKCE, the token exchange, and refreshing with the refresh
token. What toolkernel adds is where things are kept and who is asked:

- Tokens and the client registration are kept by the tool host in a private file under
  the home (`TokenFile`), never in the kernel's namespace. A refresh replaces them there,
  and the time a token expires is kept too, so a later start refreshes an expired token
  instead of sending it.
- The browser step lands on a loopback listener the host runs (`LoopbackCallback`).
- Before each connection, `OAuthSignIn.ready` checks (one `ping`) that the server takes
  the stored token, refreshing it if it expired. When a person must approve:
  - during a call with a relay (the bridge's client, or the notebook), the link is sent
    as a URL-mode elicitation (`elicitation/create` with `mode: "url"`), and the call
    waits (bounded) for the browser to come back;
  - otherwise the connection fails at once with `SignInNeeded`, whose message carries
    the link (shown by `%tools`, `toolkernel servers` and the failing call), and the
    sign-in goes on in the background: once the person approves, the host connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, OAuthFlowError
from mcp.shared.auth import OAuthClientMetadata
from mcp_types import LATEST_PROTOCOL_VERSION
from pydantic import AnyUrl

from toolkernel._spec import ClientRelay
from toolkernel.config import OAuthSettings
from toolkernel.host._failures import ConnectFailed
from toolkernel.host._oauth_store import (
    CALLBACK_PATH,
    LoopbackCallback,
    TokenFile,
    free_loopback_port,
)

__all__ = ["SIGN_IN_TIMEOUT", "OAuthSignIn", "SignInFailed", "SignInNeeded"]

SIGN_IN_TIMEOUT = 300.0
"""Seconds a person has to approve in the browser before the sign-in gives up."""
_CHECK_TIMEOUT = httpx2.Timeout(30.0)
_PING = {"jsonrpc": "2.0", "id": "toolkernel-sign-in-check", "method": "ping"}

_REFUSALS = {"decline": "declined", "cancel": "cancelled"}
Announce = Callable[[int, str], None]
"""Tells the person something about the sign-in: (logging level, text)."""


class SignInFailed(ConnectFailed):
    """The OAuth sign-in did not give a token the server takes; `str()` says why."""


class SignInNeeded(SignInFailed):
    """A person has to approve access in a browser; the message carries the link."""

    def __init__(self, message: str, *, url: str) -> None:
        """Carry the authorization link as `url`."""
        super().__init__(message)
        self.url = url


class _Provider(OAuthClientProvider):
    """The SDK's provider, plus the expiry time it does not reload from storage."""

    def __init__(
        self,
        url: str,
        metadata: OAuthClientMetadata,
        store: TokenFile,
        redirect_handler: Callable[[str], Awaitable[None]],
        callback_handler: Callable[[], Awaitable[AuthorizationCodeResult]],
    ) -> None:
        super().__init__(
            url,
            metadata,
            store,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        self._store = store

    async def _initialize(self) -> None:
        await super()._initialize()
        # The SDK takes a stored token as valid forever; with its expiry restored, an
        # expired one is refreshed rather than sent, and rejected, and signed in again.
        if self.context.current_tokens is not None:
            self.context.token_expiry_time = self._store.expires_at()


class OAuthSignIn:
    """One remote server's OAuth: its `httpx2.Auth`, its stored tokens, its sign-in."""

    def __init__(
        self,
        server: str,
        url: str,
        settings: OAuthSettings,
        *,
        folder: Path,
        headers: dict[str, str],
        announce: Announce,
        current_relay: Callable[[], ClientRelay | None],
        on_signed_in: Callable[[], Coroutine[Any, Any, None]],
        timeout: float = SIGN_IN_TIMEOUT,
    ) -> None:
        """Sign in to `server` at `url`, keeping tokens in `folder` (see `TokenFile`).

        Args:
            server: The server's name in mcp.json.
            url: Its streamable HTTP endpoint.
            settings: The entry's scope and client name.
            folder: The private folder of token files (`<home>/oauth`).
            headers: The entry's static headers, sent with the sign-in check too.
            announce: Tells the person (the host's log sink) about the sign-in.
            current_relay: The relay of the call in flight, if any.
            on_signed_in: Run (in a task of its own) once a sign-in the connection had
                failed for succeeds in the background: it connects.
            timeout: Seconds a person has to approve in the browser.
        """
        self.server = server
        self.url = url
        self.store = TokenFile(folder, server, url)
        self._headers = headers
        self._announce = announce
        self._current_relay = current_relay
        self._on_signed_in = on_signed_in
        self._timeout = timeout
        self._port = self.store.callback_port() or free_loopback_port()
        metadata = OAuthClientMetadata(
            client_name=settings.client_name,
            redirect_uris=[AnyUrl(f"http://127.0.0.1:{self._port}{CALLBACK_PATH}")],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scope=settings.scope,
        )
        self._provider = _Provider(
            url,
            metadata,
            self.store,
            redirect_handler=self._on_redirect,
            callback_handler=self._on_callback,
        )
        self.auth: httpx2.Auth = self._provider
        self._callback: LoopbackCallback | None = None
        self._check: asyncio.Task[None] | None = None
        self._needs_person = asyncio.Event()
        self._link: str | None = None
        self._in_check = False
        self._reported = False
        self._follow_up: asyncio.Task[None] | None = None
        self._asking: asyncio.Task[None] | None = None

    async def ready(self, relay: ClientRelay | None) -> None:
        """Return once the server accepts this host's token, signing in if needed.

        Raises:
            SignInNeeded: A person must open the link in the message (nobody to ask now);
                the sign-in goes on in the background.
            ConnectFailed: The sign-in failed or was declined.
        """
        if self._check is None or self._check.done():
            self._needs_person.clear()
            self._link, self._reported = None, False
            self._check = asyncio.get_running_loop().create_task(self._run_check())
            self._check.add_done_callback(_retrieve)
        check = self._check
        person = asyncio.ensure_future(self._needs_person.wait())
        try:
            await asyncio.wait({check, person}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            person.cancel()
        if not check.done() and self._waiting_for_browser():
            await self._ask_person(relay, check)
        await asyncio.wait({check})  # the person is done: the token exchange is left
        try:
            check.result()
        except (OAuthFlowError, httpx2.HTTPError, ValueError) as exc:
            msg = f"server {self.server!r}: OAuth sign-in failed: {exc}. Call again to retry"
            raise SignInFailed(msg) from exc

    def _waiting_for_browser(self) -> bool:
        return self._callback is not None and not self._callback.answered

    async def aclose(self) -> None:
        """Stop a sign-in in progress and its listener (bounded); the stored tokens stay."""
        tasks = {task for task in (self._check, self._follow_up, self._asking) if task}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._callback is not None:
            await self._callback.close()

    async def _ask_person(self, relay: ClientRelay | None, check: asyncio.Task[None]) -> None:
        """Wait for the person through `relay`; without one, fail with the link."""
        link = self._link or ""
        if relay is None:
            self._reported = True
            raise SignInNeeded(self._needs_message(link), url=link)
        action = await self._elicit(relay, link)
        if action != "accept":
            check.cancel()
            msg = f"server {self.server!r}: the sign-in was {_REFUSALS.get(action, action)}; "
            raise SignInFailed(msg + "call again to retry")

    async def _elicit(self, relay: ClientRelay, link: str) -> str:
        """Send the link as a URL-mode elicitation; return the person's action."""
        params = {
            "mode": "url",
            # The link is in the message too, for a client that shows only the message.
            "message": f"Sign in to {self.server!r} so toolkernel can use its tools: {link}",
            "url": link,
            "elicitationId": secrets.token_urlsafe(16),
        }
        try:
            answer = await relay("elicitation/create", params)
        except Exception as exc:
            self._announce(logging.WARNING, f"could not ask through the client: {exc}")
            raise SignInNeeded(self._needs_message(link), url=link) from exc
        return str(answer.get("action", "cancel"))

    def _needs_message(self, link: str) -> str:
        return (
            f"server {self.server!r} needs you to sign in: open {link} in a browser and "
            f"approve access. Toolkernel connects by itself once you have (the link works "
            f"for {self._timeout / 60:g} minutes)"
        )

    async def _run_check(self) -> None:
        """One authenticated `ping`: the provider refreshes or signs in as it needs to."""
        self._in_check = True
        try:
            async with httpx2.AsyncClient(
                auth=self.auth, headers=self._headers or None, timeout=_CHECK_TIMEOUT
            ) as client:
                headers = {
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": LATEST_PROTOCOL_VERSION,
                }
                async with client.stream("POST", self.url, json=_PING, headers=headers) as reply:
                    if reply.status_code in (401, 403):
                        msg = f"{self.url} still refuses access (HTTP {reply.status_code})"
                        raise OAuthFlowError(msg)
        except BaseException as exc:
            if self._reported and not isinstance(exc, asyncio.CancelledError):
                self._announce(logging.WARNING, f"sign-in to {self.server!r} failed: {exc}")
            raise
        finally:
            self._in_check = False
        if self._reported:  # the connection failed meanwhile: connect now, in its own task
            self._announce(logging.INFO, f"signed in to {self.server!r}; connecting")
            self._follow_up = asyncio.get_running_loop().create_task(self._on_signed_in())

    async def _on_redirect(self, authorization_url: str) -> None:
        """The SDK's redirect handler: listen for the browser, then show the link."""
        state = parse_qs(urlsplit(authorization_url).query).get("state", [""])[0]
        callback = LoopbackCallback(self._port, state, self.server)
        try:
            await callback.start()
        except OSError as exc:
            msg = f"the sign-in callback port {self._port} is taken ({exc}); call again to retry"
            self._move_callback()
            raise OAuthFlowError(msg) from exc
        self._callback, self._link = callback, authorization_url
        self._announce(logging.WARNING, self._needs_message(authorization_url))
        self._needs_person.set()
        relay = None if self._in_check else self._current_relay()
        if relay is not None:  # a token was refused mid-session, during a call
            self._asking = asyncio.get_running_loop().create_task(self._elicit_during_call(relay))

    def _move_callback(self) -> None:
        """Take a free port for the callback; the next sign-in registers with it."""
        self._port = free_loopback_port()
        self.store.forget_client()
        context = self._provider.context
        context.client_info = None
        context.clear_tokens()
        uri = AnyUrl(f"http://127.0.0.1:{self._port}{CALLBACK_PATH}")
        context.client_metadata.redirect_uris = [uri]

    async def _elicit_during_call(self, relay: ClientRelay) -> None:
        with contextlib.suppress(SignInNeeded):
            action = await self._elicit(relay, self._link or "")
            if action != "accept" and self._callback is not None:
                refusal = _REFUSALS.get(action, action)
                self._callback.fail(OAuthFlowError(f"the sign-in was {refusal}"))

    async def _on_callback(self) -> AuthorizationCodeResult:
        """The SDK's callback handler: the code the browser brings back (bounded wait)."""
        callback = self._callback
        if callback is None:
            msg = "no sign-in is waiting for a browser"
            raise OAuthFlowError(msg)
        try:
            return await callback.wait(self._timeout)
        finally:
            self._callback = None


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a background check's failure as seen (it was announced, or is re-raised)."""
    if not task.cancelled():
        task.exception()
