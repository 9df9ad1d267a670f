"""One MCP server's connection: start, initialize, list tools, call, reconnect.

Each connection lives in a task of the host's event loop that owns the transport and
the `ClientSession` for their whole life (anyio cancel scopes must be entered and left
in one task). Calls are made from other tasks on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import httpx2
from mcp import types
from mcp.client import Transport
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

from toolkernel._spec import ClientRelay
from toolkernel._version import __version__
from toolkernel.config import HttpServer, InvalidServer, ServerConfig, StdioServer
from toolkernel.errors import ToolkernelError
from toolkernel.host._convert import spec_from_mcp
from toolkernel.host._failures import ConnectFailed, RequestNotSent
from toolkernel.host._oauth import OAuthSignIn, SignInFailed
from toolkernel.host._tasks import SendRaw, TaskProgress, call_as_task, runs_as_task

if TYPE_CHECKING:
    from toolkernel._spec import ToolSpec

__all__ = ["ConnectFailed", "RequestNotSent", "ServerConnection"]

_CLIENT_INFO = types.Implementation(name="toolkernel", version=__version__)
# As the SDK's own HTTP client: 30 s to connect, write and wait for the pool, 300 s to
# read, because a server may hold a response stream open while a tool runs. Redirects
# are not followed here: the transport follows those that stay on the server's origin.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}

LogSink = Callable[[str, int, str], None]
"""Receives server log messages: (server name, logging level, text)."""
StateSink = Callable[["ServerConnection"], None]
"""Hears that a connection's `state` changed on its own (the server went away)."""


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class ServerConnection:
    """The live connection to one configured server, reconnected on demand."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        connect_timeout: float,
        logs_dir: Path,
        on_tools: Callable[[str, list[ToolSpec]], None],
        on_log: LogSink,
        oauth_dir: Path | None = None,
        on_state: StateSink | None = None,
    ) -> None:
        """Connect `config`'s server; nothing starts until a call or `ensure_connected`.

        `oauth_dir` holds the tokens of servers that sign in with OAuth (default: the
        `oauth` folder beside `logs_dir`, both in the toolkernel home).
        """
        self.config = config
        self.name = config.name
        self.connect_timeout = connect_timeout
        self.state = "failed" if isinstance(config, InvalidServer) else "connecting"
        self.detail: str | None = config.reason if isinstance(config, InvalidServer) else None
        self.tools: list[ToolSpec] | None = None
        self._logs_dir = logs_dir
        self._on_tools = on_tools
        self._on_log = on_log
        self._on_state = on_state
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stderr_path = logs_dir / f"{_safe_filename(self.name)}.stderr.log"
        self._stderr_offset = 0
        self.first_attempt_done = asyncio.Event()
        """Set once the first connection attempt has succeeded or failed."""
        self._relays: list[ClientRelay] = []
        self._task_support: dict[str, str] = {}
        self._send_raw: SendRaw | None = None
        self._oauth_dir = oauth_dir or logs_dir.parent / "oauth"
        self._sign_in: OAuthSignIn | None = None

    @contextlib.contextmanager
    def relaying(self, relay: ClientRelay | None) -> Iterator[None]:
        """Send the server's sampling and elicitation requests to `relay` during a call.

        With several calls in flight, the newest call's relay answers: over stdio a
        server's request does not say which call it belongs to.
        """
        if relay is None:
            yield
            return
        self._relays.append(relay)
        try:
            yield
        finally:
            self._relays.remove(relay)

    async def call_tool(
        self,
        session: ClientSession,
        tool: str,
        arguments: dict[str, Any],
        on_progress: TaskProgress | None,
    ) -> types.CallToolResult:
        """Call `tool` on `session`, as a task when the tool asks for one (see `_tasks`).

        Raises:
            MCPError: The server answered with an error, or the connection closed.
        """
        try:
            return await self._call_once(session, tool, arguments, on_progress)
        except MCPError as exc:
            # -32042: the user must open links first. Offer them through the call's
            # relay (a notebook link, or the bridge client's URL elicitation); once
            # every one was accepted, retry once. Otherwise the error stands.
            if exc.code != types.URL_ELICITATION_REQUIRED or not await self._offer_links(exc):
                raise
        return await self._call_once(session, tool, arguments, on_progress)

    async def _call_once(
        self,
        session: ClientSession,
        tool: str,
        arguments: dict[str, Any],
        on_progress: TaskProgress | None,
    ) -> types.CallToolResult:
        over_http = isinstance(self.config, HttpServer)
        send_raw = self._send_raw
        if send_raw is not None and runs_as_task(self._task_support.get(tool), over_http=over_http):
            return await call_as_task(session, send_raw, tool, arguments, on_progress)
        return await session.call_tool(tool, arguments, progress_callback=on_progress)

    async def _offer_links(self, exc: MCPError) -> bool:
        """Relay a -32042 error's URL elicitations; True if the user accepted every one."""
        if not self._relays:
            return False
        try:
            data = types.ElicitationRequiredErrorData.model_validate(exc.error.data)
        except ValueError:
            return False
        for elicitation in data.elicitations:
            answer = await self._relay("elicitation/create", elicitation)
            if isinstance(answer, types.ErrorData) or answer.get("action") != "accept":
                return False
        return bool(data.elicitations)

    async def ensure_connected(self) -> ClientSession:
        """Return a live session, connecting (once, for all concurrent callers) if needed.

        Raises:
            ConnectFailed: The server could not be started or initialized in time.
        """
        if self._session is not None and not self._closed.is_set():
            return self._session
        async with self._lock:
            if self._session is not None and not self._closed.is_set():
                return self._session
            return await self._connect()

    def mark_disconnected(self, reason: str) -> None:
        """Record that the connection broke; the next call reconnects."""
        self.state, self.detail = "failed", reason
        self._session = None
        self._closed.set()

    async def close(self) -> None:
        """Stop the server's transport and wait (bounded) for it to wind down."""
        self._closed.set()
        if self._sign_in is not None:
            await self._sign_in.aclose()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=10)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=5)

    def stderr_tail(self, lines: int = 3) -> str:
        """Return the last lines the server wrote to stderr since this connection began."""
        try:
            with self._stderr_path.open("rb") as fh:
                fh.seek(self._stderr_offset)
                text = fh.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])

    async def refresh_tools(self) -> list[ToolSpec]:
        """Re-list the server's tools (after `tools/list_changed`) and publish them."""
        session = await self.ensure_connected()
        tools = await self._list_tools(session)
        self.tools = tools
        self._on_tools(self.name, tools)
        return tools

    async def _connect(self) -> ClientSession:
        if isinstance(self.config, InvalidServer):
            self.first_attempt_done.set()
            raise ConnectFailed(self.config.reason)
        if self._task is not None and not self._task.done():
            await self.close()
        self.state, self.detail = "connecting", None
        self._closed = asyncio.Event()
        ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready), name=f"mcp-server-{self.name}")
        try:
            session = await ready
        except BaseException as exc:
            reason = self._describe_failure(_root_cause(exc))
            self.state, self.detail = "failed", reason
            raise ConnectFailed(reason) from exc
        finally:
            self.first_attempt_done.set()
        self._session = session
        self.state, self.detail = "connected", None
        return session

    async def _run(self, ready: asyncio.Future[ClientSession]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                transport = await self._open_transport(stack)
                read, write = await stack.enter_async_context(transport)
                closed = self._closed
                dispatcher = _WatchedDispatcher(
                    read, _SendGuard(write), on_end=lambda: self._stream_ended(closed)
                )
                session = await stack.enter_async_context(
                    ClientSession(
                        dispatcher=dispatcher,
                        logging_callback=self._on_log_message,
                        message_handler=self._on_message,
                        sampling_callback=self._on_sampling,
                        elicitation_callback=self._on_elicitation,
                        client_info=_CLIENT_INFO,
                    )
                )
                with anyio.fail_after(self.connect_timeout):
                    await session.initialize()
                    tools = await self._list_tools(session)
                self._send_raw = _raw_sender(dispatcher, session)
                self.tools = tools
                self._on_tools(self.name, tools)
                ready.set_result(session)
                await self._closed.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else ConnectFailed(repr(exc)))
            elif not self._closed.is_set():
                self.mark_disconnected(self._describe_failure(_root_cause(exc)))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._session = None
            if self.state == "connected":
                self.mark_disconnected("the connection closed; it reconnects on the next call")

    def _stream_ended(self, closed: asyncio.Event) -> None:
        """The server's stream ended (its process exited, say) while it was connected."""
        if closed is not self._closed or closed.is_set() or self.state != "connected":
            return  # we closed it, or this connection was already replaced
        tail = self.stderr_tail()
        stderr = f"; stderr: {tail}" if tail else ""
        self.mark_disconnected(
            f"server {self.name!r} went away while connected (its process exited or "
            f"closed the connection){stderr}. It restarts on the next call"
        )
        if self._on_state is not None:
            self._on_state(self)

    async def _open_transport(self, stack: contextlib.AsyncExitStack) -> Transport:
        """Return the server's transport, still to be entered; what it uses closes with `stack`."""
        config = self.config
        if isinstance(config, StdioServer):
            errlog = self._open_stderr_log()
            stack.callback(errlog.close)
            params = StdioServerParameters(
                command=config.command, args=config.args, env=config.env or None, cwd=config.cwd
            )
            return stdio_client(params, errlog=errlog)
        if isinstance(config, HttpServer):
            sign_in = self._oauth_sign_in(config)
            client = httpx2.AsyncClient(
                headers=config.headers or None,
                timeout=_HTTP_TIMEOUT,
                auth=sign_in.auth if sign_in is not None else None,
            )
            await stack.enter_async_context(client)
            if sign_in is not None:
                await sign_in.ready(self._relays[-1] if self._relays else None)
            return streamable_http_client(config.url, http_client=client)
        raise ConnectFailed(config.reason)  # pragma: no cover - InvalidServer never gets here

    def _oauth_sign_in(self, config: HttpServer) -> OAuthSignIn | None:
        """The server's OAuth sign-in (one for the connection's life), if it uses OAuth."""
        if config.oauth is None:
            return None
        if self._sign_in is None:
            self._sign_in = OAuthSignIn(
                self.name,
                config.url,
                config.oauth,
                folder=self._oauth_dir,
                headers=config.headers,
                announce=lambda level, text: self._on_log(self.name, level, text),
                current_relay=lambda: self._relays[-1] if self._relays else None,
                on_signed_in=self._connect_after_sign_in,
            )
        return self._sign_in

    async def _connect_after_sign_in(self) -> None:
        with contextlib.suppress(ConnectFailed):
            await self.ensure_connected()

    def _open_stderr_log(self) -> TextIO:
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        errlog: TextIO = self._stderr_path.open("a", encoding="utf-8")
        self._stderr_offset = errlog.tell()
        return errlog

    def _describe_failure(self, exc: BaseException) -> str:
        config = self.config
        if isinstance(exc, SignInFailed):  # already says what happened and what to do
            return str(exc)
        if isinstance(exc, TimeoutError):
            what = f"did not finish initialize within {self.connect_timeout:g} s"
            hint = "check that the server speaks MCP over stdio, or raise connect_timeout"
        elif isinstance(exc, FileNotFoundError) and isinstance(config, StdioServer):
            what = f"command {config.command!r} was not found"
            hint = "install it or fix 'command' in mcp.json"
        elif isinstance(exc, MCPError):
            what = f"closed the connection ({exc.error.message})"
            hint = "see the server's stderr"
        elif isinstance(exc, OSError):
            what = f"could not be started: {exc}"
            hint = "fix 'command'/'cwd' in mcp.json"
        else:
            what = f"failed: {type(exc).__name__}: {exc}"
            hint = "check the server entry in mcp.json"
        if isinstance(config, HttpServer) and not isinstance(exc, TimeoutError):
            hint = f"check that {config.url} is reachable and the headers are right"
        tail = self.stderr_tail()
        stderr = f"; stderr: {tail}" if tail else ""
        return f"server {self.name!r} {what}{stderr}. {hint[0].upper()}{hint[1:]}."

    async def _on_log_message(self, params: types.LoggingMessageNotificationParams) -> None:
        data = params.data
        text = data if isinstance(data, str) else repr(data)
        if params.logger:
            text = f"{params.logger}: {text}"
        self._on_log(self.name, _LEVELS.get(str(params.level), logging.INFO), text)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            asyncio.get_running_loop().create_task(self._refresh_quietly())
        elif isinstance(message, Exception):
            self._on_log(self.name, logging.WARNING, f"transport error: {message}")

    async def _on_sampling(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.ErrorData:
        answer = await self._relay("sampling/createMessage", params)
        if isinstance(answer, types.ErrorData):
            return answer
        return types.CreateMessageResult.model_validate(answer)

    async def _on_elicitation(
        self, context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        answer = await self._relay("elicitation/create", params)
        if isinstance(answer, types.ErrorData):
            return answer
        return types.ElicitResult.model_validate(answer)

    async def _relay(self, method: str, params: Any) -> dict[str, Any] | types.ErrorData:
        if not self._relays:
            message = f"toolkernel relays {method} only while one of your tools is being called"
            return types.ErrorData(code=types.INVALID_REQUEST, message=message)
        relay = self._relays[-1]
        data = params.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            return await relay(method, data)
        except ToolkernelError as exc:
            return types.ErrorData(code=types.INVALID_REQUEST, message=str(exc))
        except Exception as exc:
            self._on_log(self.name, logging.WARNING, f"relaying {method} failed: {exc!r}")
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"{method} failed: {exc}")

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh_tools()
        except Exception as exc:
            self._on_log(self.name, logging.WARNING, f"could not refresh tools: {exc}")

    async def _list_tools(self, session: ClientSession) -> list[ToolSpec]:
        """List every page of the server's tools; note which ones support tasks."""
        specs: list[ToolSpec] = []
        support: dict[str, str] = {}
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            for tool in page.tools:
                specs.append(spec_from_mcp(self.name, tool))
                if tool.execution is not None and tool.execution.task_support:
                    support[tool.name] = tool.execution.task_support
            cursor = page.next_cursor
            if not cursor:
                self._task_support = support
                return specs


def _raw_sender(dispatcher: JSONRPCDispatcher[Any], session: ClientSession) -> SendRaw:
    """Send a request past the session's result check, stamped as the session would."""

    async def send(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        opts: CallOptions = {}
        version = session.protocol_version
        if version is not None:
            opts["headers"] = {MCP_PROTOCOL_VERSION_HEADER: version}
        return await dispatcher.send_raw_request(method, params, opts)

    return send


class _WatchedDispatcher(JSONRPCDispatcher[Any]):
    """The SDK's dispatcher, which says when its stream ends and what it never sent.

    `on_end` runs when the receive loop stops (EOF: the server exited), so a server that
    dies while idle is noticed at once. A request made after that, or whose write
    failed, raises `RequestNotSent` rather than the SDK's ambiguous `CONNECTION_CLOSED`.
    """

    def __init__(self, read: Any, write: Any, *, on_end: Callable[[], None]) -> None:
        super().__init__(read, write)
        self._on_end = on_end

    async def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().run(*args, **kwargs)
        finally:
            self._on_end()

    async def send_raw_request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            msg = f"{method} was not sent: the connection had closed"
            raise RequestNotSent(msg)
        return await super().send_raw_request(method, *args, **kwargs)


class _SendGuard:
    """A write stream on which a request that cannot be written raises `RequestNotSent`.

    Notifications and responses fail as before (the SDK handles those itself).
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def send(self, item: Any) -> None:
        try:
            await self._stream.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            if not isinstance(getattr(item, "message", None), types.JSONRPCRequest):
                raise
            msg = "the request was not sent: the connection had closed"
            raise RequestNotSent(msg) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()

    def close(self) -> None:
        self._stream.close()

    async def __aenter__(self) -> _SendGuard:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> bool | None:
        result: bool | None = await self._stream.__aexit__(*exc)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _safe_filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
