"""An `AsyncKernelClient` whose five channels are one websocket to a gateway.

jupyter_client's client methods (`execute`, `input`, `get_iopub_msg`, `wait_for_ready`,
...) only touch `client.<name>_channel`; these channels send through the gateway's
websocket and read from the queue its reader fills, so every method works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from queue import Empty
from typing import Any, Protocol

from jupyter_client.asynchronous.client import AsyncKernelClient

__all__ = ["Gateway", "WebSocketKernelClient"]


class Gateway(Protocol):
    """What the channels need from the websocket's owner (`GatewayKernel`)."""

    @property
    def beating(self) -> bool:
        """True while the websocket is open and the kernel is believed alive."""

    async def is_alive(self) -> bool:
        """Check the kernel, reopening a dropped websocket first."""

    def send(self, channel: str, msg: dict[str, Any]) -> None:
        """Send one message on `channel`."""

    def queue(self, channel: str) -> asyncio.Queue[dict[str, Any]]:
        """The queue that receives the kernel's messages on `channel`."""


class WebSocketKernelClient(AsyncKernelClient):
    """An `AsyncKernelClient` whose five channels are one gateway websocket."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        # The channel properties return these instead of connecting ZMQ sockets.
        self._shell_channel = _Channel("shell", gateway)
        self._iopub_channel = _Channel("iopub", gateway)
        self._stdin_channel = _Channel("stdin", gateway)
        self._control_channel = _Channel("control", gateway)
        self._hb_channel = _Heartbeat("hb", gateway)
        self._gateway = gateway

    async def is_alive(self) -> bool:
        """Whether the kernel is up, as far as the gateway tells."""
        return await self._gateway.is_alive()


class _Channel:
    """One channel of the websocket, with the methods jupyter_client's channels have."""

    def __init__(self, name: str, gateway: Gateway) -> None:
        self.name = name
        self._gateway = gateway

    def start(self) -> None:
        """Nothing to start: the websocket carries every channel."""

    def stop(self) -> None:
        """Nothing to stop: `GatewayKernel.shutdown` closes the websocket."""

    def close(self) -> None:
        """Nothing to close (see `stop`)."""

    def is_alive(self) -> bool:
        """True while the websocket is open."""
        return self._gateway.beating

    def send(self, msg: dict[str, Any]) -> None:
        """Send a message built by `Session.msg` on this channel."""
        self._gateway.send(self.name, msg)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; `queue.Empty` when none came within `timeout` seconds."""
        queue = self._gateway.queue(self.name)
        with contextlib.suppress(asyncio.QueueEmpty):
            return queue.get_nowait()
        try:
            async with asyncio.timeout(timeout):
                return await queue.get()
        except TimeoutError:
            raise Empty from None

    async def get_msgs(self) -> list[dict[str, Any]]:
        """Every message already received."""
        queue = self._gateway.queue(self.name)
        return [queue.get_nowait() for _ in range(queue.qsize())]

    async def msg_ready(self) -> bool:
        """True when a message is waiting."""
        return not self._gateway.queue(self.name).empty()


class _Heartbeat(_Channel):
    """The heartbeat: beating while the websocket is open and no death was announced."""

    time_to_dead = 1.0

    def pause(self) -> None:
        """Nothing to pause."""

    def unpause(self) -> None:
        """Nothing to resume."""

    def is_beating(self) -> bool:
        """True while the kernel is believed alive."""
        return self._gateway.beating
