"""The tool host's socket protocol: newline-delimited JSON-RPC 2.0, in both directions.

A kernel (`RemoteToolHost`) and its `toolkernel host` (`HostService`) talk over one
Unix socket. Each message is one JSON object on one line (JSON escapes newlines inside
strings, so a line is a message). Either side sends requests, answers and notifications:

- kernel to host, requests: `initialize`, `tools/call` (`{"id", "name", "arguments",
  "version"?, "execution"?, "relay"?, "relay_party"?}`: `relay` lists what the call's relay
  can answer, `relay_party` who answers it, `person` or `client`), `catalog`, `statuses`,
  `resources/list`, `resources/read`; notification `$/cancel` `{"id"}` (cancels one of
  its requests; `calls/cancel` is the same as a request); `registry/*`, the registry
  changes and reads of `toolkernel.host._registry_rpc`;
- host to kernel, notifications: `catalog/changed` `{"source", "tools"}`, `log`
  `{"source", "level", "text"}`, and per call `calls/progress`, `calls/output`,
  `calls/log` (each with the call's request `id`); request `relay/request`
  `{"call", "method", "params"}` (elicitation and sampling, answered by the call's relay).

Why not MCP itself: MCP over this socket would make the host an aggregating MCP server
and the kernel an MCP client, with its handshake, capability negotiation, pydantic
models on every message and per-request progress tokens, and it has no place for what a
kernel needs beyond tools (statuses, catalog pushes by source, per-call script output).
This protocol is a few hundred lines, imports nothing heavy in the kernel, and
`benchmarks/bench_host_service.py` measures its per-call cost against the in-process
host and the raw MCP SDK.

Errors travel typed: a `ToolkernelError` becomes a JSON-RPC error whose `data` names its
class in `toolkernel.errors` and carries its fields, and is raised again as that class
on the other side (`error_to_json`, `error_from_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from toolkernel import errors
from toolkernel._spec import SOCKET_ENV_VAR
from toolkernel.errors import ToolError, ToolkernelError

__all__ = [
    "CANCELLED",
    "MAX_LINE",
    "PROTOCOL_VERSION",
    "SOCKET_ENV_VAR",
    "Peer",
    "PeerClosed",
    "RpcError",
    "error_from_json",
    "error_to_json",
]

log = logging.getLogger("toolkernel.host")

PROTOCOL_VERSION = 1
"""Sent in `initialize`; a host refuses a kernel that speaks another version."""
MAX_LINE = 64 * 1024 * 1024
"""The longest message (one line) either side reads: a tool result with images fits."""

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TOOLKERNEL_ERROR = -32000
"""A `ToolkernelError`; its `data` says which (`{"type", "fields"}`)."""
CANCEL_ANSWER_S = 8.0
"""How long a cancelled request waits for the other side to confirm it wound down."""
CANCELLED = -32800
"""The request was cancelled (`$/cancel`, or the side serving it is stopping)."""

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""One message as compact JSON; made once (`json.dumps` with options builds an encoder
on every call)."""

RequestHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
NotificationHandler = Callable[[str, dict[str, Any]], None]


class PeerClosed(ConnectionError):
    """The other side closed the connection (or died) before answering."""


class RpcError(Exception):
    """A JSON-RPC error answer that is not a `ToolkernelError` (bad method, params, ...).

    Attributes:
        code: The JSON-RPC error code.
    """

    def __init__(self, message: str, *, code: int = INTERNAL_ERROR) -> None:
        super().__init__(message)
        self.code = code


class Peer:
    """One end of the connection: sends requests and notifications, serves the other's.

    `run()` reads until the other side closes; then every request still waiting for an
    answer fails with `PeerClosed`, and every request still being served is cancelled.
    All methods run on the loop `run()` runs on.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_request: RequestHandler,
        on_notify: NotificationHandler,
        name: str,
    ) -> None:
        """Wrap a connected stream; nothing is read until `run()`."""
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_notify = on_notify
        self._name = name
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._serving: dict[Any, asyncio.Task[None]] = {}
        self.closed = False
        self.close_reason = ""
        """Why the connection ended, once `closed`."""

    def next_id(self) -> int:
        """A fresh request id, for a caller that must know it before `request` sends."""
        return next(self._ids)

    async def request(
        self, method: str, params: dict[str, Any], *, request_id: int | None = None
    ) -> Any:
        """Send a request and await its answer (unbounded: the caller bounds it).

        Cancelling the awaiting task sends `$/cancel` for it, then waits a little for the
        other side's answer, so that side has wound the work down once this returns.

        Raises:
            PeerClosed: The connection ended first.
            ToolkernelError: The other side answered with one (the same class).
            RpcError: The other side answered with another error.
        """
        if self.closed:
            raise PeerClosed(self.close_reason)
        rid = self.next_id() if request_id is None else request_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            await self._writer.drain()
            # Shielded: an answer read after this task was cancelled, before it resumed,
            # still lands, so the wait below ends at once.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not self.closed:
                self.notify("$/cancel", {"id": rid})
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(future, CANCEL_ANSWER_S)
            raise
        except (ConnectionError, RuntimeError) as exc:
            self._end(f"the connection broke: {exc}")
            raise PeerClosed(self.close_reason) from exc
        finally:
            self._waiting.pop(rid, None)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification (no answer); dropped when the connection has ended."""
        if not self.closed:
            self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def run(self) -> None:
        """Read and dispatch messages until the other side closes the connection."""
        reason = "it closed the connection"
        try:
            while line := await self._reader.readline():
                self._receive(line)
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            reason = f"the connection broke: {exc}"
        finally:
            self._end(reason)

    def close(self) -> None:
        """Close the connection; waiting requests fail with `PeerClosed`."""
        self._end("it was closed on this side")
        self._writer.close()

    # -- internals -------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PeerClosed(reason))
        for task in self._serving.values():
            task.cancel()

    def _send(self, message: dict[str, Any]) -> None:
        text = _encode(message)
        self._writer.write(text.encode("utf-8", "surrogatepass") + b"\n")

    def _receive(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.warning("%s: ignored a line that is not JSON: %.200r", self._name, line)
            return
        if not isinstance(message, dict):
            return
        if "method" not in message:
            self._answered(message)
            return
        method = str(message["method"])
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if "id" in message and method != "calls/cancel":
            self._serve(message["id"], method, params)
        elif method in ("$/cancel", "calls/cancel"):
            task = self._serving.get(params.get("id"))
            if task is not None:
                task.cancel()
            if "id" in message:
                self._reply(message["id"], result={})
        else:
            try:
                self._on_notify(method, params)
            except Exception:
                log.exception("%s: handling %s failed", self._name, method)

    def _answered(self, message: dict[str, Any]) -> None:
        future = self._waiting.get(message.get("id"))  # type: ignore[arg-type]
        if future is None or future.done():
            return
        if "error" in message:
            future.set_exception(error_from_json(message["error"]))
        else:
            future.set_result(message.get("result"))

    def _serve(self, rid: Any, method: str, params: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(rid, method, params))
        self._serving[rid] = task
        task.add_done_callback(lambda _: self._serving.pop(rid, None))

    async def _answer(self, rid: Any, method: str, params: dict[str, Any]) -> None:
        try:
            result = await self._on_request(method, params)
        except asyncio.CancelledError:
            self._reply(rid, error={"code": CANCELLED, "message": f"{method} was cancelled"})
            return
        except Exception as exc:  # the other side gets the error; this side goes on
            if not isinstance(exc, ToolkernelError | RpcError):
                log.exception("%s: serving %s failed", self._name, method)
            self._reply(rid, error=error_to_json(exc))
            return
        self._reply(rid, result=result)

    def _reply(self, rid: Any, *, result: Any = None, error: dict[str, Any] | None = None) -> None:
        if self.closed:
            return
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": rid}
        if error is not None:
            answer["error"] = error
        else:
            answer["result"] = result
        try:
            self._send(answer)
        except (TypeError, ValueError) as exc:  # a result that is not JSON
            self._send({**answer, "result": None, "error": error_to_json(exc)})


def error_to_json(exc: BaseException) -> dict[str, Any]:
    """A JSON-RPC error object for `exc`; a `ToolkernelError` keeps its class and fields."""
    if isinstance(exc, RpcError):
        return {"code": exc.code, "message": str(exc)}
    if not isinstance(exc, ToolkernelError):
        return {"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"}
    fields = {}
    for key, value in vars(exc).items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        fields[key] = value
    data = {"type": type(exc).__name__, "fields": fields}
    return {"code": TOOLKERNEL_ERROR, "message": str(exc), "data": data}


def error_from_json(error: Any) -> Exception:
    """The exception an error object stands for: the same `toolkernel.errors` class."""
    if not isinstance(error, dict):
        return RpcError(f"malformed error answer: {error!r}")
    message = str(error.get("message") or "no message")
    code = error.get("code")
    if code == CANCELLED:
        return ToolkernelError(message)
    data = error.get("data")
    if code != TOOLKERNEL_ERROR or not isinstance(data, dict):
        return RpcError(message, code=code if isinstance(code, int) else INTERNAL_ERROR)
    found_fields = data.get("fields")
    fields: dict[str, Any] = found_fields if isinstance(found_fields, dict) else {}
    found = getattr(errors, str(data.get("type")), None)
    if not (isinstance(found, type) and issubclass(found, ToolkernelError)):
        found = ToolError if "tool" in fields else ToolkernelError
    # Rebuilt without its __init__ (each class takes other keywords): the message and
    # the fields are what a caller reads.
    exc: Exception = found.__new__(found)
    Exception.__init__(exc, message)
    exc.__dict__.update(fields)
    return exc
