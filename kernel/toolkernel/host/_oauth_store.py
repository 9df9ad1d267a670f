"""What OAuth sign-in keeps and waits for: the token file, and the loopback callback.

`TokenFile` is the SDK's `TokenStorage` for one remote server: its tokens (with the time
they expire, which the SDK does not keep) and its dynamic client registration, in one
JSON file of `<home>/oauth/`. The folder is private (0700) and each file is 0600. A file
is replaced whole (a new file, then a rename), opened relative to the folder with
`O_NOFOLLOW`, so a link planted in the folder is never written or read through.

`LoopbackCallback` is where the browser lands after the person approves: a one-shot HTTP
listener on `127.0.0.1`, which takes the answer only when its `state` is the one the
authorization link carried, and waits a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import os
import secrets
import socket
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mcp.client.auth import AuthorizationCodeResult, OAuthFlowError
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from toolkernel._nofollow import NEW_FILE_FLAGS, open_directory

__all__ = ["CALLBACK_PATH", "LoopbackCallback", "TokenFile", "free_loopback_port"]

CALLBACK_PATH = "/callback"
_MAX_FILE = 1 << 20
_MAX_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0


class TokenFile:
    """The SDK's `TokenStorage` for one server, kept in `<folder>/<server>-<url hash>.json`.

    The file is bound to the server's URL: changing the URL in `mcp.json` starts a new
    sign-in rather than sending one server's tokens to another.
    """

    def __init__(self, folder: Path, server: str, url: str) -> None:
        """Keep the tokens of `server` at `url` in `folder` (created 0700 when first written)."""
        self.folder = folder
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in server) or "_"
        self.name = f"{safe}-{digest}.json"
        self.url = url

    @property
    def path(self) -> Path:
        """Where the file is."""
        return self.folder / self.name

    async def get_tokens(self) -> OAuthToken | None:
        """The stored tokens, or None (none yet, or an unreadable file)."""
        tokens = self._read().get("tokens")
        return OAuthToken.model_validate(tokens) if isinstance(tokens, dict) else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        """Store `tokens` (a sign-in's, or a refresh's), with the time they expire."""
        expires = None if tokens.expires_in is None else time.time() + int(tokens.expires_in)
        self._update(tokens=tokens.model_dump(mode="json", exclude_none=True), expires_at=expires)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The stored client registration, or None."""
        info = self._read().get("client_info")
        return OAuthClientInformationFull.model_validate(info) if isinstance(info, dict) else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """Store the client registration the server issued."""
        self._update(client_info=client_info.model_dump(mode="json", exclude_none=True))

    def expires_at(self) -> float | None:
        """When the stored access token expires (epoch seconds), or None if unknown."""
        value = self._read().get("expires_at")
        return float(value) if isinstance(value, int | float) else None

    def callback_port(self) -> int | None:
        """The loopback port the stored registration redirects to, or None."""
        info = self._read().get("client_info")
        uris = info.get("redirect_uris") if isinstance(info, dict) else None
        for uri in uris if isinstance(uris, list) else []:
            parts = urlsplit(str(uri))
            if parts.hostname == "127.0.0.1" and parts.port and parts.path == CALLBACK_PATH:
                return parts.port
        return None

    def forget_client(self) -> None:
        """Drop the registration and tokens, so the next sign-in registers afresh."""
        self._update(client_info=None, tokens=None, expires_at=None)

    def _read(self) -> dict[str, Any]:
        try:
            with open_directory(self.folder) as folder:
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(self.name, flags, dir_fd=folder)
                with os.fdopen(fd, "rb") as file:
                    info = os.fstat(file.fileno())
                    if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_FILE:
                        return {}
                    data = json.loads(file.read(_MAX_FILE))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("server_url") != self.url:
            return {}
        return data

    def _update(self, **changes: Any) -> None:
        data = {**self._read(), **changes, "server_url": self.url}
        self._write(json.dumps(data, indent=1).encode())

    def _write(self, content: bytes) -> None:
        with contextlib.suppress(FileExistsError):
            self.folder.mkdir(mode=0o700, parents=True)
        with open_directory(self.folder) as folder:
            temporary = f".{self.name}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temporary, NEW_FILE_FLAGS, 0o600, dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as file:
                    os.fchmod(file.fileno(), 0o600)
                    file.write(content)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                raise


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LoopbackCallback:
    """A one-shot listener for the authorization server's redirect back to this host."""

    def __init__(self, port: int, state: str, server: str) -> None:
        """Listen (once `start` is awaited) on `127.0.0.1:port` for the redirect of `state`."""
        self.port = port
        self._state = state
        self._server = server
        self._answer: asyncio.Future[AuthorizationCodeResult] | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind the port.

        Raises:
            OSError: The port is taken.
        """
        self._answer = asyncio.get_running_loop().create_future()
        self._listener = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, limit=_MAX_HEAD
        )

    @property
    def answered(self) -> bool:
        """Whether the browser came back (with a code or a refusal), or the wait ended."""
        return self._answer is not None and self._answer.done()

    def fail(self, error: BaseException) -> None:
        """End the wait with `error` (the person declined, say)."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    async def wait(self, timeout: float) -> AuthorizationCodeResult:
        """The code the browser brought back, then stop listening.

        Raises:
            OAuthFlowError: No answer within `timeout` seconds, or the server refused.
        """
        if self._answer is None:
            msg = "the sign-in callback was not started"
            raise OAuthFlowError(msg)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._answer)
        except TimeoutError:
            msg = f"nobody completed the sign-in for {self._server!r} within {timeout:g} s"
            raise OAuthFlowError(msg) from None
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening (idempotent)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await listener.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, page = self._answer_request(head.decode("latin-1"))
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, page = "400 Bad Request", "The request could not be read."
        body = f"<!doctype html><title>toolkernel</title><p>{html.escape(page)}</p>".encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_READ_TIMEOUT):
                await writer.drain()
        writer.close()

    def _answer_request(self, head: str) -> tuple[str, str]:
        method, _, rest = head.partition(" ")
        target = rest.partition(" ")[0]
        parts = urlsplit(target)
        if method != "GET" or parts.path != CALLBACK_PATH:
            return "404 Not Found", "Nothing here."
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        state = query.get("state", "")
        if not secrets.compare_digest(state.encode(), self._state.encode()):
            return "400 Bad Request", (
                "This is not the sign-in toolkernel is waiting for (its state differs). "
                "Open the link toolkernel showed most recently."
            )
        if self._answer is None or self._answer.done():
            return "409 Conflict", "This sign-in is already over; you can close this tab."
        if "error" in query:
            reason = query.get("error_description") or query["error"]
            error = OAuthFlowError(f"the authorization server refused the sign-in: {reason}")
            self._answer.set_exception(error)
            return "200 OK", f"Sign-in refused ({reason}). You can close this tab."
        if not query.get("code"):
            return "400 Bad Request", "The redirect carried no authorization code."
        result = AuthorizationCodeResult(code=query["code"], state=state, iss=query.get("iss"))
        self._answer.set_result(result)
        return "200 OK", f"Signed in to {self._server}. You can close this tab."
