"""The bridge's end of the typed channel: JSON-RPC requests to the kernel's session.

`KernelSession` opens it after the kernel starts (and again after a restart): a kernel
subshell when the kernel offers them (ipykernel 7), else the control channel of a
Toolkernel kernel started without subshells, so answers come while a cell runs even if
the cell blocks its thread, then a comm to `CHANNEL_TARGET` on it. Requests
are matched to responses by id; progress notifications and the kernel's `relay`
requests go to the request they name. See `toolkernel.kernel._channel` for the methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from toolkernel._spec import CHANNEL_TARGET, ClientRelay, JSONObject
from toolkernel.errors import BridgeError

__all__ = ["ChannelClient", "ChannelError", "Progress"]

Progress = Callable[[float, float | None, str | None], Awaitable[None]]
"""Receives a running call's progress: (progress, total, message)."""

_NOT_TOOLKERNEL = (
    "the kernel closed the toolkernel channel (it has no `toolkernel.rpc` comm target); "
    "is this a Toolkernel kernel? Other kernels have no tool bindings"
)


class ChannelError(BridgeError):
    """A channel request failed in the kernel.

    It reads `Kind: message`, as a traceback's last line does; `kind` is the class name
    of the exception the kernel raised.
    """

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(f"{kind}: {message}" if kind else message)
        self.kind = kind


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    on_progress: Progress | None
    relay: ClientRelay | None


class ChannelClient:
    """One open channel to one kernel; made by `KernelSession`, used through `request`."""

    def __init__(self, send: Callable[[str, JSONObject, str | None], None]) -> None:
        """`send(msg_type, content, subshell_id)` puts one message on the channel's route."""
        self._send = send
        self.comm_id = uuid.uuid4().hex
        self.subshell_id: str | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._closed: str | None = None
        self._relays: set[asyncio.Task[None]] = set()

    def open(self, subshell_id: str | None) -> None:
        """Open the comm (on `subshell_id`, or the main shell when None)."""
        self.subshell_id = subshell_id
        content = {"comm_id": self.comm_id, "target_name": CHANNEL_TARGET, "data": {}}
        self._send("comm_open", content, subshell_id)

    def close_comm(self) -> None:
        """Ask the kernel to close its end of the comm (a bridge leaving a kernel it shares)."""
        self._send("comm_close", {"comm_id": self.comm_id, "data": {}}, self.subshell_id)

    async def request(
        self,
        method: str,
        params: JSONObject,
        *,
        on_progress: Progress | None = None,
        relay: ClientRelay | None = None,
    ) -> Any:
        """Send one request and wait for its result (bound it with `asyncio.timeout`).

        Raises:
            ChannelError: The kernel's method raised; the message is its text.
            BridgeError: The channel is closed (the kernel restarted, or it is not a
                Toolkernel kernel).
        """
        if self._closed is not None:
            raise BridgeError(self._closed)
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(future, on_progress, relay)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            self._send_data(message)
            return await future
        finally:
            self._pending.pop(request_id, None)

    def close(self, reason: str) -> None:
        """Fail every waiting request with `reason`; later requests fail at once."""
        self._closed = reason
        pending, self._pending = self._pending, {}
        for waiting in pending.values():
            if not waiting.future.done():
                waiting.future.set_exception(BridgeError(reason))
        for task in list(self._relays):
            task.cancel()

    def receive(self, msg: dict[str, Any]) -> bool:
        """Take one iopub message if it is this channel's; True when it was."""
        kind, content = msg.get("msg_type"), msg.get("content") or {}
        if kind not in ("comm_msg", "comm_close") or content.get("comm_id") != self.comm_id:
            return False
        if kind == "comm_close":
            self.close(_NOT_TOOLKERNEL)
            return True
        data = content.get("data")
        if isinstance(data, dict):
            self._dispatch(data)
        return True

    def _dispatch(self, data: JSONObject) -> None:
        method = data.get("method")
        if method == "notifications/progress":
            self._progress(data.get("params") or {})
        elif method == "relay" and "id" in data:
            task = asyncio.ensure_future(self._answer_relay(data))
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)
        elif "id" in data:
            waiting = self._pending.get(data["id"])
            if waiting is None or waiting.future.done():
                return
            if "error" in data:
                error = data["error"] or {}
                kind = (error.get("data") or {}).get("type", "")
                waiting.future.set_exception(ChannelError(str(error.get("message")), kind=kind))
            else:
                waiting.future.set_result(data.get("result"))

    def _progress(self, params: JSONObject) -> None:
        waiting = self._pending.get(params.get("request"))  # type: ignore[arg-type]
        if waiting is None or waiting.on_progress is None:
            return
        task = asyncio.ensure_future(
            waiting.on_progress(
                float(params.get("progress") or 0),
                params.get("total"),
                params.get("message"),
            )
        )
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)

    async def _answer_relay(self, data: JSONObject) -> None:
        params = data.get("params") or {}
        waiting = self._pending.get(params.get("request"))  # type: ignore[arg-type]
        relay = waiting.relay if waiting is not None else None
        reply: JSONObject = {"jsonrpc": "2.0", "id": data["id"]}
        if relay is None:
            reply["error"] = {"code": -32601, "message": "no MCP client can answer it here"}
        else:
            try:
                reply["result"] = await relay(str(params.get("method")), params.get("params") or {})
            except Exception as exc:  # the kernel gets the failure, with its text
                reply["error"] = {"code": -32000, "message": str(exc)}
        with contextlib.suppress(Exception):
            self._send_data(reply)

    def _send_data(self, data: JSONObject) -> None:
        self._send("comm_msg", {"comm_id": self.comm_id, "data": data}, self.subshell_id)
