"""A kernel on a Jupyter Server, Kernel Gateway or Enterprise Gateway, over its REST API.

`GatewayKernel` starts, interrupts, restarts and deletes the kernel through `/api/kernels`,
and carries the Jupyter messaging protocol over one websocket,
`/api/kernels/{id}/channels`, whose JSON messages name their channel. Its `client` is an
`AsyncKernelClient` whose channels are that websocket, so `KernelSession` drives a remote
kernel with the same calls as a local one.

jupyter_server's own `GatewayKernelClient` is not used: it is configured through a
process-wide `GatewayClient` singleton, connects with a blocking client from the event
loop, spins on `asyncio.sleep(0)` while it waits for a message, and sends no token on
the websocket.

The start request carries an `env` (`kernel_env`): Enterprise Gateway reads the user and
other `KERNEL_*` settings from it and passes it to the kernel. A 403 that gives a reason
(Enterprise Gateway refusing the user, or at its kernel limit) is reported with that
reason, not as a refused token.

A dropped websocket is reopened with the same session id, so the server replays what the
kernel said meanwhile, and requests sent while it was down go out once it is back.
A kernel that died is restarted by the server; one whose restart never answers is
deleted and a new kernel started in its place (`replace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
from typing import Any

import anyio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.jsonutil import json_default
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from toolkernel.bridge._gateway_client import WebSocketKernelClient
from toolkernel.bridge._gateway_rest import (
    GATEWAY_TOKEN_ENV_VAR,
    GatewayTarget,
    detail,
    json_body,
    kernel_env,
    ok,
    reason,
    refused,
    unreachable,
)
from toolkernel.errors import BridgeError

__all__ = ["GATEWAY_TOKEN_ENV_VAR", "GatewayKernel", "GatewayTarget"]

log = logging.getLogger("toolkernel.bridge")

_CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
_REQUEST_S = 30.0
_RESTART_S = 120.0
_RECONNECT_S = 10.0
_PING_S = 30.0
_CLOSE_S = 5.0
_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class GatewayKernel:
    """One kernel the bridge started on a gateway, and the websocket to it."""

    def __init__(self, target: GatewayTarget) -> None:
        """Describe the kernel; nothing is requested until `start()`."""
        self.target = target
        self.kernel_id: str | None = None
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {
            name: asyncio.Queue() for name in _CHANNELS
        }
        self.client = WebSocketKernelClient(self)
        self._base = target.url.rstrip("/") + "/"
        if not self._base.startswith(("http://", "https://")):
            msg = f"--gateway-url must start with http:// or https://, not {target.url!r}"
            raise BridgeError(msg)
        self._headers = {"Authorization": f"token {target.token}"} if target.token else {}
        self._http: AsyncHTTPClient | None = None
        self._ws: WebSocketClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._unsent: list[str] = []
        self._announced: str | None = None
        self._closing = False

    @property
    def beating(self) -> bool:
        """True while the websocket is open and the server has not reported the kernel dead."""
        return self._ws is not None and self._announced is None

    async def start(self, timeout: float) -> AsyncKernelClient:
        """Ask the server for a kernel and open its websocket; return the client.

        Raises:
            BridgeError: The server is unreachable, refused the token, or has no such
                kernelspec.
        """
        self._http = AsyncHTTPClient(force_instance=True)
        try:
            self.kernel_id = await self._new_kernel(timeout)
            await self._connect(timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.shutdown()  # deletes the kernel if it was started
            raise
        return self.client

    async def interrupt(self) -> None:
        """Interrupt the running cell (`POST /api/kernels/{id}/interrupt`)."""
        self._check(await self._request("POST", "interrupt", _REQUEST_S), "interrupt the kernel")

    async def is_alive(self) -> bool:
        """False once the server reports the kernel restarting or dead, or it is gone.

        A closed websocket is reopened first: a dropped connection is not a dead kernel.
        """
        if self._ws is None and self._announced is None and not self._closing:
            with contextlib.suppress(BridgeError):
                await self._connect(_RECONNECT_S)
        return self.beating

    async def restart(self) -> None:
        """Bring back a kernel that died; its state is lost.

        When the server already restarts it on its own (Jupyter Server's restarter
        announces `restarting`), there is nothing to ask. Otherwise the kernel is
        restarted through `POST /api/kernels/{id}/restart`, or replaced by a new one when
        the server has dropped it. The websocket is reopened either way, since a
        restarted kernel may listen on new ports.
        """
        restarting_itself = self._announced == "restarting"
        self._announced = None
        self._unsent.clear()  # requests meant for the dead kernel must not reach the new one
        self._drop_websocket()
        if not restarting_itself:
            response = await self._request("POST", "restart", _RESTART_S)
            # Jupyter Server answers 500, not 404, for a kernel it no longer has.
            if not ok(response) and await self._gone():
                self.kernel_id = await self._new_kernel(_RESTART_S)
            else:
                self._check(response, "restart the kernel")
        await self._connect(_RESTART_S)

    async def replace(self) -> None:
        """Delete the kernel and start a new one in its place; its state is lost.

        For a kernel that is up but never answers (a restart that came back mute):
        the server would not restart it again.

        Raises:
            BridgeError: The server did not start the new kernel.
        """
        self._announced = None
        self._unsent.clear()  # requests meant for the old kernel must not reach the new one
        self._drop_websocket()
        try:
            self._check(await self._request("DELETE", "", _REQUEST_S), "delete the kernel")
        except BridgeError as exc:  # a new kernel is still worth starting
            log.warning("%s; starting a new kernel anyway", exc)
        self.kernel_id = await self._new_kernel(_RESTART_S)
        await self._connect(_RESTART_S)

    async def shutdown(self) -> None:
        """Close the websocket and delete the kernel; a server that is gone is ignored."""
        self._closing = True
        self._drop_websocket()
        if self._reader is not None:  # it ends once the server has acknowledged the close
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, _CLOSE_S)
        if self.kernel_id is not None:
            with contextlib.suppress(BridgeError):
                await self._request("DELETE", "", _REQUEST_S)
        if self._http is not None:
            self._http.close()

    def send(self, channel: str, msg: dict[str, Any]) -> None:
        """Send one message on `channel`; kept until the websocket is back if it is down.

        A cell sent after the server reported the kernel's death is held back: the next
        liveness check fails, `restart` drops it, and the reply says the state was lost,
        as it would for a local kernel. Silent requests (discovery) go through.
        """
        text = json.dumps({**msg, "channel": channel}, default=json_default)
        if self._announced is not None and _is_cell(msg):
            self._unsent.append(text)
            return
        self._write(text)

    def queue(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        """The queue that receives the kernel's messages on `channel`."""
        return self._queues[channel]

    async def _new_kernel(self, timeout: float) -> str:
        body = {"name": self.target.kernel_name, "env": kernel_env(self.target, timeout)}
        response = await self._send_rest("POST", "api/kernels", timeout, body)
        if response.code != 201:
            msg = await self._start_failure(response)
            raise BridgeError(msg)
        kernel_id: str = json_body(response)["id"]
        return kernel_id

    async def _start_failure(self, response: HTTPResponse) -> str:
        """Say why the kernel did not start, naming the kernelspecs the server has."""
        name = self.target.kernel_name
        specs = await self._send_rest("GET", "api/kernelspecs", _REQUEST_S)
        available = sorted(json_body(specs).get("kernelspecs", {})) if ok(specs) else []
        if available and name not in available:
            return (
                f"the gateway at {self.target.url} has no kernelspec {name!r}; available: "
                f"{', '.join(available)}. Install it there (`toolkernel install-kernel "
                "--sys-prefix` in the server's environment) or pass --kernel-name"
            )
        failure = f"the gateway at {self.target.url} did not start kernel {name!r}: "
        if response.code == 403:  # Enterprise Gateway: a user it refuses, or a kernel limit
            return (
                f"{failure}{reason(response).rstrip('.')}. To start it as another user, set "
                "KERNEL_USERNAME in the bridge's environment (its KERNEL_* variables go "
                "with the request)"
            )
        return failure + reason(response)

    async def _gone(self) -> bool:
        return (await self._request("GET", "", _REQUEST_S)).code == 404

    async def _request(self, method: str, action: str, timeout: float) -> HTTPResponse:
        path = "/".join(p for p in ("api/kernels", str(self.kernel_id), action) if p)
        return await self._send_rest(method, path, timeout, {} if method == "POST" else None)

    async def _send_rest(
        self, method: str, path: str, timeout: float, body: dict[str, Any] | None = None
    ) -> HTTPResponse:
        if self._http is None:
            msg = "the gateway kernel is not started: call start() first"
            raise BridgeError(msg)
        request = HTTPRequest(
            self._base + path,
            method=method,
            headers={**self._headers, "Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
            connect_timeout=timeout,
            request_timeout=timeout,
        )
        try:
            response = await self._http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:  # no answer at all (refused, timed out)
            raise unreachable(self.target.url, exc) from exc
        if response.code == 401 or (response.code == 403 and not detail(response)):
            raise refused(self.target.url, response.code)
        return response  # a 403 with a reason is the server refusing the request itself

    def _check(self, response: HTTPResponse, what: str) -> None:
        if not ok(response):
            msg = (
                f"the gateway at {self.target.url} could not {what} "
                f"(kernel {self.kernel_id}): {reason(response)}"
            )
            raise BridgeError(msg)

    async def _connect(self, timeout: float) -> None:
        """Open the websocket (with the client's session id) unless it is open."""
        async with self._connecting:
            if self._ws is not None:
                return
            request = HTTPRequest(
                # http://host/ becomes ws://host/, and https:// becomes wss://
                f"ws{self._base.removeprefix('http')}api/kernels/{self.kernel_id}/channels"
                f"?session_id={self.client.session.session}",
                headers=self._headers,
                connect_timeout=timeout,
                request_timeout=timeout,
            )
            try:
                ws = await websocket_connect(
                    request, ping_interval=_PING_S, max_message_size=_MAX_MESSAGE_BYTES
                )
            except HTTPClientError as exc:
                if exc.code in (401, 403):
                    raise refused(self.target.url, exc.code) from exc
                msg = f"the gateway at {self.target.url} refused the kernel's websocket: {exc}"
                raise BridgeError(msg) from exc
            except OSError as exc:
                raise unreachable(self.target.url, exc) from exc
            self._ws = ws
            self._reader = asyncio.get_running_loop().create_task(self._read(ws))
            unsent, self._unsent = self._unsent, []
            for text in unsent:
                self._write(text)

    async def _read(self, ws: WebSocketClientConnection) -> None:
        """Route each message to its channel's queue until the websocket closes."""
        try:
            while (raw := await ws.read_message()) is not None:
                try:
                    msg = _decode(raw)
                except (ValueError, struct.error):
                    continue  # not a kernel message; nothing waits for it
                channel = msg.pop("channel", None)
                if channel not in _CHANNELS:
                    continue
                state = msg.get("content", {}).get("execution_state")
                if channel == "iopub" and state in ("restarting", "dead"):
                    self._announced = state  # the server's restarter saw the kernel die
                self.queue(channel).put_nowait(msg)
        finally:
            if self._ws is ws:
                self._ws = None
            ws.close()  # releases the connection when the server closed it

    def _write(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            self._unsent.append(text)
            return
        try:
            sent = ws.write_message(text)
        except WebSocketClosedError:
            self._unsent.append(text)
            return

        def resend_if_lost(future: asyncio.Future[None]) -> None:
            if future.cancelled() or future.exception() is not None:
                if self._ws is ws:  # this websocket is dead; the next liveness check reopens
                    self._drop_websocket()
                self._write(text)

        sent.add_done_callback(resend_if_lost)

    def _drop_websocket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()


def _is_cell(msg: dict[str, Any]) -> bool:
    """True for an execute request that is not silent (user code, which needs state)."""
    return bool(msg["header"]["msg_type"] == "execute_request" and not msg["content"].get("silent"))


def _decode(raw: str | bytes) -> dict[str, Any]:
    """A message as the server sends it: JSON, or binary (JSON plus buffers)."""
    if isinstance(raw, str):
        msg: dict[str, Any] = json.loads(raw)
        return msg
    # jupyter_server's binary form: count, offsets, then the JSON and each buffer.
    (count,) = struct.unpack_from("!I", raw)
    offsets = [*struct.unpack_from(f"!{count}I", raw, 4), len(raw)]
    parts = [raw[start:end] for start, end in itertools.pairwise(offsets)]
    decoded: dict[str, Any] = json.loads(parts[0])
    decoded["buffers"] = parts[1:]
    return decoded
