"""Network by domain for a sandboxed process: a filtering proxy outside, a forwarder inside.

The process keeps its own empty network namespace (only `lo`, no route out). This
process runs an HTTP(S) proxy (`NetProxy`, on one shared asyncio loop thread) that
listens on a Unix socket; the socket's folder is bound read-only into the sandbox.
Inside, a small forwarder (`FORWARDER`, run by the system's `python3` before the
command execs) listens on `127.0.0.1:PROXY_PORT` and pipes each connection to the
socket, and the command gets `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` (and their lower
case forms) pointing there, `NO_PROXY` empty (`sandbox_env`).

The proxy takes `CONNECT host:port` (HTTPS and any TCP; filtered by that host) and
plain-HTTP requests with an absolute URI (`GET http://host/path`, filtered by its
host, which the `Host` header must repeat). It resolves names itself, connects to the
address it resolved (so a second lookup cannot change it), and answers a refused
request with 403 and a body naming the host and the allowlist. What passes is decided
by `Allowlist`; one connection carries one plain-HTTP request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkernel_sandbox._errors import SandboxError
from toolkernel_sandbox.process._allowlist import Allowlist
from toolkernel_sandbox.process._backends import check_command
from toolkernel_sandbox.process._policy import PROXY_PORT, ProcessPolicy

__all__ = [
    "FORWARDER",
    "MAX_CONNECTIONS",
    "NetProxy",
    "behind_proxy",
    "proxied",
]

logger = logging.getLogger("toolkernel_sandbox.process")

_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
_HEAD_BYTES = 64 * 1024
_HEAD_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 10.0
_START_TIMEOUT_S = 10.0
#: Connections one proxy serves at once; more are answered 503 (each holds two of this
#: process's file descriptors, and this process is the tool host).
MAX_CONNECTIONS = 128
_CHUNK = 65536
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}

# Run as `python3 -I -S -c FORWARDER SOCKET -- COMMAND...`: it binds the port first (so
# the command can connect as soon as it starts), leaves a grandchild serving it (its
# stdio on /dev/null, so it holds no pipe of the run open), and execs the command. The
# sandbox's pid namespace ends the forwarder when the command exits. It imports only
# what Python loads anyway, plus `selectors`: `asyncio` alone would take longer to
# import than the sandbox takes to start.
FORWARDER = f"""\
import os, selectors, socket, sys
path, command = sys.argv[1], sys.argv[3:]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", {PROXY_PORT}))
listener.listen(128)
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
selector = selectors.DefaultSelector()
class End:
    # One socket of a pair: `out` waits to be written to it; the other end is read
    # only while this buffer is empty, so neither side can outrun the other.
    def __init__(self, sock):
        self.sock, self.out, self.eof, self.mask, self.other = sock, bytearray(), False, 0, None
    def update(self):
        mask = (0 if self.eof or self.other.out else READ) | (WRITE if self.out else 0)
        if mask != self.mask:
            if not self.mask:
                selector.register(self.sock, mask, self)
            elif not mask:
                selector.unregister(self.sock)
            else:
                selector.modify(self.sock, mask, self)
            self.mask = mask
def close(end):
    for one in (end, end.other):
        if one.mask:
            selector.unregister(one.sock)
            one.mask = 0
        one.sock.close()
def ready(end, events):
    other = end.other
    if events & READ:
        data = end.sock.recv({_CHUNK})
        if data:
            other.out += data
        else:
            end.eof = True
            if not other.out:
                other.sock.shutdown(socket.SHUT_WR)
    if events & WRITE and end.out:
        del end.out[:end.sock.send(end.out)]
        if not end.out and other.eof:
            end.sock.shutdown(socket.SHUT_WR)
    if end.eof and other.eof and not end.out and not other.out:
        close(end)
    else:
        end.update()
        other.update()
def accept():
    client, _ = listener.accept()
    upstream = socket.socket(socket.AF_UNIX)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    ends = End(client), End(upstream)
    ends[0].other, ends[1].other = ends[1], ends[0]
    for end in ends:
        end.sock.setblocking(False)
        end.update()
def serve():
    selector.register(listener, READ, None)
    while True:
        for key, events in selector.select():
            if key.data is None:
                accept()
                continue
            try:
                ready(key.data, events)
            except OSError:
                close(key.data)
if os.fork() == 0:
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        serve()
    os._exit(0)
os.wait()
listener.close()
try:
    os.execvp(command[0], command)
except OSError as exc:
    sys.stderr.write(f"toolkernel_sandbox: could not run {{command[0]}}: {{exc}}\\n")
    sys.exit(127)
"""


def proxied(
    policy: ProcessPolicy, command: Sequence[str], proxy: NetProxy
) -> tuple[ProcessPolicy, list[str]]:
    """`policy` and `command` as they run behind `proxy`.

    The proxy socket's folder is shown read-only, and the forwarder starts before the
    command (`sandbox_env` names it in the proxy variables).

    Raises:
        SandboxError: No `python3` in the system directories to run the forwarder.
    """
    python = shutil.which("python3", path=_SYSTEM_PATH)
    if python is None:
        msg = (
            "a network allowlist needs python3 in /usr/bin or /usr/local/bin, which runs "
            "its forwarder inside the sandbox; install python3"
        )
        raise SandboxError(msg)
    shown = dataclasses.replace(policy, read_only=(*policy.read_only, proxy.folder))
    forwarder = [python, "-I", "-S", "-c", FORWARDER, str(proxy.socket), "--"]
    return shown, [*forwarder, *command]


class NetProxy:
    """A filtering HTTP(S) proxy for one sandboxed run, on a Unix socket.

    Use `NetProxy.start(allowlist)`, and `close()` it when the run ends. The socket is
    `<folder>/proxy.sock`, in a fresh folder of its own (mode 0755, the socket 0666,
    so any sandbox uid may connect); nothing else is in the folder.
    """

    def __init__(self, allowlist: Allowlist, folder: Path) -> None:
        """Use `NetProxy.start` instead: this does not listen yet."""
        self.allowlist = allowlist
        self.folder = folder
        self.socket = folder / "proxy.sock"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def start(cls, patterns: Sequence[str]) -> NetProxy:
        """A proxy that lets through what `patterns` (see `Allowlist`) allow, listening.

        Raises:
            ValueError: A pattern is malformed.
            SandboxError: The proxy could not listen.
        """
        proxy = cls(Allowlist(patterns), Path(tempfile.mkdtemp(prefix="tk-netproxy-")))
        try:
            proxy.folder.chmod(0o755)
            _on_loop(proxy._listen()).result(_START_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            proxy.close()
            msg = f"the network proxy could not listen on {proxy.socket}: {exc}"
            raise SandboxError(msg) from exc
        return proxy

    def close(self) -> None:
        """Stop listening, end every connection, and remove the socket's folder."""
        with contextlib.suppress(TimeoutError, RuntimeError):
            _on_loop(self._stop()).result(_START_TIMEOUT_S)
        shutil.rmtree(self.folder, ignore_errors=True)

    async def _listen(self) -> None:
        self._server = await asyncio.start_unix_server(
            self._accepted, path=str(self.socket), limit=_HEAD_BYTES, backlog=2 * MAX_CONNECTIONS
        )
        self.socket.chmod(0o666)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=_START_TIMEOUT_S)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always inside a task here
        self._tasks.add(task)
        try:
            if len(self._tasks) > MAX_CONNECTIONS:
                reason = f"more than {MAX_CONNECTIONS} connections at once; close some first"
                writer.write(_answer(503, reason))
                await writer.drain()
                return
            await _Exchange(self.allowlist, reader, writer).run()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except Exception:
            logger.exception("the network proxy failed on a connection")
        finally:
            self._tasks.discard(task)
            writer.close()


class _Refused(Exception):
    """A request the proxy answers itself with `status` and `reason` as the body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Exchange:
    """One client connection: read its request head, check it, then pipe both ways."""

    def __init__(
        self, allowlist: Allowlist, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._allowlist = allowlist
        self._reader = reader
        self._writer = writer

    async def run(self) -> None:
        try:
            async with asyncio.timeout(_HEAD_TIMEOUT_S):
                head = await self._head()
            method, target, lines = _parse_head(head)
            if method == "CONNECT":
                await self._connect(target)
            else:
                await self._forward(method, target, lines)
        except _Refused as refused:
            logger.info("the network proxy refused a request (%d): %s", refused.status, refused)
            self._writer.write(_answer(refused.status, refused.reason))
            await self._writer.drain()

    async def _head(self) -> bytes:
        try:
            return await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise _Refused(400, f"the request head is longer than {_HEAD_BYTES} bytes") from exc

    async def _connect(self, target: str) -> None:
        host, port = _authority(target, default_port=None)
        upstream = await self._open(host, port)
        self._writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await self._splice(upstream, b"")

    async def _forward(self, method: str, target: str, lines: list[tuple[str, str]]) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.netloc:
            msg = f"the proxy takes CONNECT (for HTTPS) or an absolute http:// URI, not {target!r}"
            raise _Refused(400, msg)
        host, port = _authority(parts.netloc, default_port=80)
        given = [value for name, value in lines if name.lower() == "host"]
        if len(given) > 1 or (given and _authority(given[0], 80) != (host, port)):
            msg = f"the Host header ({', '.join(given)}) does not name the URI's host {host!r}"
            raise _Refused(400, msg)
        upstream = await self._open(host, port)
        path = parts.path or "/"
        path += f"?{parts.query}" if parts.query else ""
        kept = [(n, v) for n, v in lines if n.lower() not in _HOP_BY_HOP | {"host"}]
        fields = [("Host", parts.netloc), *kept, ("Connection", "close")]
        request = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
        await self._splice(upstream, request.encode("latin-1") + b"\r\n")

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        refusal, exact = self._allowlist.refusal(host, port)
        if refusal is not None:
            raise _Refused(403, refusal)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                found = await loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise _Refused(502, f"could not resolve {host!r}: {exc}") from exc
        addresses = [str(info[4][0]) for info in found]
        for address in addresses:
            refusal = Allowlist.address_refusal(host, address, exact=exact)
            if refusal is not None:
                raise _Refused(403, refusal)
        errors = []
        for address in addresses:
            try:
                async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                    return await asyncio.open_connection(address, port)
            except (OSError, TimeoutError) as exc:
                errors.append(f"{address}: {exc or 'timed out'}")
        raise _Refused(502, f"could not connect to {host}:{port} ({'; '.join(errors)})")

    async def _splice(
        self, upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter], first: bytes
    ) -> None:
        reader, writer = upstream
        try:
            writer.write(first)  # what the client sent after the head is still in its reader
            await asyncio.gather(_pipe(self._reader, writer), _pipe(reader, self._writer))
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


def _parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise _Refused(400, "the request head is not text") from exc
    first, *rest = text[:-4].split("\r\n")
    words = first.split(" ")
    if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1") or not words[0].isalpha():
        raise _Refused(400, f"not an HTTP/1 request line: {first[:200]!r}")
    lines = []
    for line in rest:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[:1] in (" ", "\t"):
            raise _Refused(400, f"malformed header line {line[:200]!r}")
        lines.append((name, value.strip()))
    return words[0].upper(), words[1], lines


def _authority(text: str, default_port: int | None) -> tuple[str, int]:
    """`host` and `port` of `host[:port]` (`[v6]:port`); refuses user info."""
    if "@" in text:
        raise _Refused(400, f"user info in {text!r} is not allowed; give the host alone")
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        port_text = rest.removeprefix(":") if rest.startswith(":") else rest
    else:
        host, _, port_text = text.partition(":")
    if not port_text and default_port is not None:
        return host.lower(), default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _Refused(400, f"{text!r} does not name a port from 1 to 65535")
    return host.lower(), int(port_text)


def _answer(status: int, reason: str) -> bytes:
    titles = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    title = titles.get(status, "Service Unavailable")
    body = f"toolkernel sandbox proxy: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _on_loop(coroutine: Coroutine[Any, Any, None]) -> Future[None]:
    """Run `coroutine` on the proxies' own loop thread (started on first use)."""
    global _loop  # noqa: PLW0603 - one loop thread per process, made once
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(
                target=_loop.run_forever, name="toolkernel-netproxy", daemon=True
            ).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop)


def behind_proxy(
    backend: str, policy: ProcessPolicy, command: Sequence[str]
) -> tuple[NetProxy | None, ProcessPolicy, Sequence[str]]:
    """The proxy a run under `policy` needs, and the policy and command to launch with it.

    Without `network_allow` there is no proxy (None) and both come back unchanged;
    else see `proxied`. Close the proxy once the run ends.

    Raises:
        SandboxError: `backend` is `rlimits`, which has no network namespace to keep the
            process behind the proxy; or the proxy could not start.
    """
    if not policy.network_allow:
        return None, policy, command
    check_command(command)
    if backend == "rlimits":
        msg = (
            "backend 'rlimits' has no network namespace, so it cannot hold a process to "
            "its network allowlist; use bwrap or firejail"
        )
        raise SandboxError(msg)
    proxy = NetProxy.start(policy.network_allow)
    try:
        shown, wrapped = proxied(policy, command, proxy)
    except BaseException:
        proxy.close()
        raise
    return proxy, shown, wrapped
