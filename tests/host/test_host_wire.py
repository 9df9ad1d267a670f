"""The socket protocol's `Peer`: two ends over a real socket pair, in one event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from toolkernel.host._wire import CANCEL_ANSWER_S, Peer

WAIT = 10.0
Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]


@asynccontextmanager
async def connected(serve: Handler) -> AsyncIterator[tuple[Peer, list[str]]]:
    """A client `Peer` whose other end answers with `serve`; also the methods it was sent."""
    near, far = socket.socketpair()
    heard: list[str] = []

    def notified(method: str, params: dict[str, Any]) -> None:
        heard.append(method)

    async def refuse(method: str, params: dict[str, Any]) -> Any:
        raise AssertionError(method)

    reader, writer = await asyncio.open_connection(sock=near)
    far_reader, far_writer = await asyncio.open_connection(sock=far)

    async def served(method: str, params: dict[str, Any]) -> Any:
        heard.append(method)
        return await serve(method, params)

    client = Peer(reader, writer, on_request=refuse, on_notify=notified, name="client")
    server = Peer(far_reader, far_writer, on_request=served, on_notify=notified, name="server")
    tasks = [asyncio.create_task(client.run()), asyncio.create_task(server.run())]
    try:
        yield client, heard
    finally:
        client.close()
        server.close()
        await asyncio.wait(tasks, timeout=WAIT)


def test_a_request_gets_the_other_sides_answer() -> None:
    async def echo(method: str, params: dict[str, Any]) -> Any:
        return {"method": method, **params}

    async def scenario() -> Any:
        async with connected(echo) as (client, _):
            return await asyncio.wait_for(client.request("ping", {"text": "é\n"}), WAIT)

    assert asyncio.run(scenario()) == {"method": "ping", "text": "é\n"}


def test_a_cancelled_request_is_cancelled_on_the_other_side_before_it_returns() -> None:
    async def scenario() -> None:
        started, wound_down = asyncio.Event(), asyncio.Event()

        async def slow(method: str, params: dict[str, Any]) -> Any:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                wound_down.set()

        async with connected(slow) as (client, _):
            call = asyncio.create_task(client.request("slow", {}))
            await asyncio.wait_for(started.wait(), WAIT)
            call.cancel()
            done, _ = await asyncio.wait([call], timeout=WAIT)
            assert call in done
            assert call.cancelled()
            assert wound_down.is_set()  # the other side's work ended before the request did

    asyncio.run(scenario())


def test_a_request_cancelled_as_its_answer_arrives_ends_at_once() -> None:
    async def scenario() -> None:
        call: asyncio.Task[Any] | None = None

        async def quick(method: str, params: dict[str, Any]) -> Any:
            # The answer is sent now; two loop steps on, the request is cancelled in the
            # same step as, and just before, the client reads that answer. The answer
            # must still land, so no wait for another one follows.
            assert call is not None
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, call.cancel)
            return "done"

        async with connected(quick) as (client, _):
            call = asyncio.create_task(client.request("quick", {}))
            # Far below the wait for a cancelled request's answer, were it lost.
            done, _ = await asyncio.wait([call], timeout=CANCEL_ANSWER_S / 4)
            assert call in done
            assert call.cancelled()

    asyncio.run(scenario())
