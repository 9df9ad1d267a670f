"""MCP over the process's stdin and stdout, read and written on the event loop.

The SDK's `stdio_server` reads and writes through `anyio.wrap_file`, a worker thread hop
each way per message. Here both descriptors are non-blocking and served by the event
loop itself (`anyio.wait_readable` / `wait_writable`), with the same memory-object
streams the SDK gives its server. Like the SDK's, fd 0 points at the null device and fd
1 at stderr while serving (a child's or a handler's stray output misses the wire), and
both are restored on exit.

Anything other than a pipe or a socket (a file redirected to stdin, a terminal) falls back
to the SDK's own transport.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import mcp_types as types
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

try:  # the streams the SDK's own stdio transport makes (a private module of the SDK)
    from mcp.shared._context_streams import create_context_streams
except ImportError:  # pragma: no cover - an SDK that moved it: its own transport is used
    _HAVE_STREAMS = False
else:
    _HAVE_STREAMS = True

__all__ = ["serve_stdio"]

_CHUNK = 1 << 16
"""Bytes read per `os.read` (a pipe's default capacity)."""


async def serve_stdio(server: MCPServer) -> None:
    """Serve `server` over stdin and stdout until stdin ends or stdout's reader goes.

    A client that closes its end of stdout (it will read no reply) ends the bridge as
    its end of stdin does, without a traceback.
    """
    low = server._lowlevel_server  # what `run_stdio_async` runs
    options = low.create_initialization_options()
    if not (_HAVE_STREAMS and _pollable(0) and _pollable(1)):
        async with stdio_server() as (read_stream, write_stream):
            await low.run(read_stream, write_stream, options)
        return
    with _claimed(0, _null_input) as wire_in, _claimed(1, _stderr_copy) as wire_out:
        read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
        write_stream, write_reader = create_context_streams[SessionMessage](0)
        async with anyio.create_task_group() as tasks:

            async def write_replies() -> None:
                async with write_reader:
                    async for message in write_reader:
                        line = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                        if not await _write_all(wire_out, (line + "\n").encode()):
                            # Nobody reads the replies any more: stop serving.
                            tasks.cancel_scope.cancel()
                            return

            async def read_requests() -> None:
                async with read_writer:
                    async for line in _lines(wire_in):
                        try:
                            parsed = types.jsonrpc_message_adapter.validate_json(
                                line, by_name=False
                            )
                        except Exception as exc:  # sent on, as the SDK does
                            await read_writer.send(exc)
                            continue
                        await read_writer.send(SessionMessage(parsed))

            tasks.start_soon(write_replies)
            tasks.start_soon(read_requests)
            await low.run(read_stream, write_stream, options)


def _pollable(fd: int) -> bool:
    """Whether `fd` is a pipe or a socket, as MCP clients give: the loop can wait on it.

    A regular file cannot be waited on, and a terminal is left alone: making it
    non-blocking would change it for the shell that shares it.
    """
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _null_input() -> int:
    return os.open(os.devnull, os.O_RDONLY)


def _stderr_copy() -> int:
    try:
        return os.dup(2)
    except OSError:  # no stderr: stray output is dropped
        return os.open(os.devnull, os.O_WRONLY)


@contextlib.contextmanager
def _claimed(fd: int, diversion: Callable[[], int]) -> Iterator[int]:
    """A non-blocking private copy of `fd`, with `fd` pointing at `diversion()` meanwhile.

    On exit `fd` points at the wire again, the wire's blocking mode is restored (other
    processes may share it), and the copy is closed.
    """
    wire = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    flags = fcntl.fcntl(wire, fcntl.F_GETFL)
    try:
        stand_in = diversion()
        try:
            os.dup2(stand_in, fd)
        finally:
            os.close(stand_in)
        fcntl.fcntl(wire, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        try:
            yield wire
        finally:
            with contextlib.suppress(OSError):
                fcntl.fcntl(wire, fcntl.F_SETFL, flags)
            os.dup2(wire, fd)
    finally:
        os.close(wire)


async def _lines(fd: int) -> AsyncIterator[bytes]:
    """Each line read from `fd` until end of file (a last line may lack its newline).

    Blank lines are skipped: they carry no message.
    """
    pending = bytearray()
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        if not chunk:
            break
        start = 0
        newline = chunk.find(b"\n")
        if newline >= 0 and pending:
            pending += chunk[: newline + 1]
            if pending.strip():
                yield bytes(pending)
            pending.clear()
            start = newline + 1
            newline = chunk.find(b"\n", start)
        while newline >= 0:
            line = chunk[start : newline + 1]
            if line.strip():
                yield line
            start = newline + 1
            newline = chunk.find(b"\n", start)
        pending += chunk[start:]
    if pending.strip():
        yield bytes(pending)


async def _write_all(fd: int, data: bytes) -> bool:
    """Write all of `data` to `fd`; False when its reader has gone."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await anyio.wait_writable(fd)
            continue
        except (BrokenPipeError, ConnectionResetError):
            print(
                "toolkernel mcp: the client closed its end of stdout; stopping",
                file=sys.stderr,
                flush=True,
            )
            return False
        view = view[written:]
    return True
