"""The bridge's reading end of a kernel channel: one message at a time, as it arrives.

A ZeroMQ channel is read straight from its socket, without jupyter_client's poll before
each read, and its messages are unpacked without parsing their dates (`_unpack`):
about 20 µs and 40 µs of each message on a small machine, four messages a cell. A
gateway's websocket channel is read through its own `get_msg`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from queue import Empty
from typing import Any, cast

import zmq.asyncio
from jupyter_client.session import Session

__all__ = ["Receive", "receiver"]

log = logging.getLogger("toolkernel.bridge")

_QUIET_S = 1.0
"""A gateway channel's read gives up after this long; a failed channel is retried after it."""


Receive = Callable[[], Awaitable[dict[str, Any] | None]]


def receiver(channel: Any) -> Receive:
    """Read `channel`'s messages one at a time: each call returns one, or None (`_next`).

    A ZeroMQ channel is read straight from its socket (`_unpack`); any other (a gateway's
    websocket) through its `get_msg`.
    """
    socket, session = getattr(channel, "socket", None), getattr(channel, "session", None)
    if not isinstance(socket, zmq.asyncio.Socket) or not isinstance(session, Session):
        return lambda: _next(lambda: channel.get_msg(timeout=_QUIET_S))
    return lambda: _next(lambda: _read(socket, session))


async def _read(socket: zmq.asyncio.Socket, session: Session) -> dict[str, Any]:
    frames = await socket.recv_multipart()
    return _unpack(session, frames)


def _unpack(session: Session, frames: list[bytes]) -> dict[str, Any]:
    """One message, as `Session.deserialize` makes it, but with dates left as text.

    The bridge reads no date. The signature is checked, and a replayed one refused, as
    `Session.deserialize` does; the protocol version is not adapted (kernels speak 5.x).

    Raises:
        ValueError: The message is unsigned, replayed, badly signed or too short.
    """
    parts = cast("list[bytes]", session.feed_identities(frames)[1])  # copy=True: bytes
    if len(parts) < _MESSAGE_PARTS:
        msg = f"a kernel message has {len(parts)} parts, fewer than {_MESSAGE_PARTS}"
        raise ValueError(msg)
    if session.auth is not None:
        signature = parts[0]
        if not signature or signature in session.digest_history:
            msg = "a kernel message is unsigned, or its signature was seen before"
            raise ValueError(msg)
        session._add_digest(signature)
        if not hmac.compare_digest(signature, session.sign(parts[1:_MESSAGE_PARTS])):
            msg = "a kernel message's signature is wrong"
            raise ValueError(msg)
    header = session.unpack(parts[1])
    return {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": session.unpack(parts[2]),
        "metadata": session.unpack(parts[3]),
        "content": session.unpack(parts[4]),
        "buffers": [memoryview(part) for part in parts[_MESSAGE_PARTS:]],
    }


_MESSAGE_PARTS = 5
"""Signature, header, parent header, metadata, content (then any buffers)."""


async def _next(get: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
    """The next message of one channel, or None.

    A message that cannot be read (a bad signature) is dropped, said in the log. A
    channel that fails (its socket closed under a restart) is retried after a second,
    and said in the log at debug level. A gateway channel's `get_msg` also returns None
    after a quiet second.
    """
    try:
        return await get()
    except Empty:
        return None
    except ValueError:
        log.warning("a kernel message was dropped", exc_info=True)
        return None
    except Exception:
        log.debug("a kernel channel failed; retrying in a second", exc_info=True)
        await asyncio.sleep(_QUIET_S)  # a back-off, not a synchronisation
        return None
