"""`toolkernel host`: one kernel's `ToolHost`, served on a Unix socket.

The sandboxed kernel holds no credentials and reaches no network: its tools run here,
outside the sandbox, and it reaches them through `RemoteToolHost` over one Unix socket
(the protocol: `toolkernel.host._wire`). Decisions, and why:

- **One host process per kernel** (`toolkernel host --socket PATH --home HOME`), not
  one per home: each kernel gets its own policy (allowlists, approvals, budgets), the
  host's lifetime is its kernel's, and a host that crashes takes one kernel's tools
  with it, no other. The registry (SQLite in the home) is shared by every process, as
  between plain kernels today.
- **What stays here**: the MCP sessions, `mcp.json` with its `${VAR}` expansion and
  credentials, OAuth tokens, script and WASM runs, secrets. The kernel sees tool specs,
  results, progress, logs and statuses, never a server's configuration.
- **The socket** is created mode 0600 in a folder that must be private (0700, ours, not
  a symlink; it is made so when missing); a path that is a symlink, or a live host's
  socket, is refused. A connecting process of another user is refused (`SO_PEERCRED`),
  but for one `peer_uid` (a sandboxed kernel's uid, when the host runs as root): the
  socket is then handed to that uid (still 0600), and its folder opened to the sandbox
  group to read and enter, not write (0750), so exactly that uid and ours can connect.
- **Several connections at once** are served, each with its own subscription and
  calls: the kernel reconnecting after a dropped connection never races the old one.
  They all share this process's one `ToolHost`, hence one kernel's policy.
- **A server's requests to the client** (elicitation, sampling) during a call go back
  over the connection that made the call (`relay/request`) and are answered by the
  kernel's `ClientRelay` for that call; the call says who that relay reaches (a person at
  a notebook, or the bridge's MCP client), and a denied approval names them.
- **Registry writes** (`create_tool`, versions, rollback, delete, restore) and reads
  the kernel needs are served here (`registry/*`, `toolkernel.host._registry_rpc`) and
  applied to the home's real registry: the sandboxed kernel's own is a throwaway.
- **The audit log**: every call served here is recorded here, in the real registry's
  call history, with the calling kernel's pid and this host's `session`; the kernel
  cannot write or erase it.
- **Connections are served on the `ToolHost`'s own loop** (its thread), not on this
  process's main loop: a call then reaches `ToolHost.call` on the loop it runs on, with
  no thread hop each way (the main thread only waits for a signal or `stop()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import struct
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkernel._spec import KnownRelay, ToolResult, ToolSpec
from toolkernel.config import ServerConfig
from toolkernel.errors import ConfigError
from toolkernel.host._host import ToolHost
from toolkernel.host._registry_rpc import CallAudit, RegistryHandlers, peer_pid
from toolkernel.host._wire import (
    INVALID_PARAMS,
    MAX_LINE,
    METHOD_NOT_FOUND,
    PROTOCOL_VERSION,
    Peer,
    RpcError,
)
from toolkernel_sandbox.process import SANDBOX_GID

if TYPE_CHECKING:
    from toolkernel.host._policy import ToolPolicy
    from toolkernel.registry import ToolRegistry

__all__ = ["HostService", "prepare_socket_path"]

log = logging.getLogger("toolkernel.host")

_SOCKET_PATH_MAX = 107
"""The longest path a Unix socket can bind to on Linux (`sun_path` less its NUL)."""
_ALL_RELAY = ("sampling", "elicitation", "elicitation.url")
_PARTIES = ("client", "person")
CLOSE_WAIT_S = 5.0
"""How long a stopping host waits for its closed connections' handlers to finish."""
T = TypeVar("T")


def prepare_socket_path(path: Path, *, peer_gid: int | None = None) -> None:
    """Make `path` ready to bind: a private folder, no symlink, no live host on it.

    With `peer_gid`, the folder may be open to that group alone, to read and enter (0750):
    the folder a sandboxed kernel's launcher made for its host.

    Raises:
        ConfigError: The path is too long, is a symlink or not a socket, its folder is
            not private to this user, or another host is serving on it.
    """
    longest = _SOCKET_PATH_MAX - 1  # one byte for the scratch name it is bound under
    if len(os.fsencode(path)) > longest:
        msg = f"socket path {path} is over {longest} bytes; choose a shorter one"
        raise ConfigError(msg)
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    _check_private_folder(folder, peer_gid)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        msg = f"refusing socket path {path}: it is a symlink; pass a path in a private folder"
        raise ConfigError(msg)
    if not stat.S_ISSOCK(info.st_mode):
        msg = f"refusing socket path {path}: a file that is not a socket is there; remove it"
        raise ConfigError(msg)
    if _someone_listens(path):
        msg = f"another tool host is serving on {path}; stop it first or choose another path"
        raise ConfigError(msg)
    path.unlink()  # a stale socket, left by a host that died


def _check_private_folder(folder: Path, peer_gid: int | None = None) -> None:
    info = folder.lstat()
    shared = stat.S_IRGRP | stat.S_IXGRP if peer_gid is not None and info.st_gid == peer_gid else 0
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        msg = f"the socket's folder {folder} is a symlink or not a folder; use a real folder"
        raise ConfigError(msg)
    if info.st_uid != os.getuid() or info.st_mode & 0o077 & ~shared:
        msg = (
            f"the socket's folder {folder} is open to other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); make it private (chmod 700 {folder}) or "
            "choose a folder of your own"
        )
        raise ConfigError(msg)


def _someone_listens(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class HostService:
    """Serves one `ToolHost` on a Unix socket until `stop()` (or SIGTERM via `run`).

    Its `ToolHost` is its own: built here (its server logs go to every connected
    kernel, and to this process's log), started once the socket listens, stopped after.
    """

    def __init__(
        self,
        socket_path: Path,
        servers: Mapping[str, ServerConfig],
        *,
        registry: ToolRegistry,
        logs_dir: Path,
        connect_timeout: float = 30.0,
        sandbox_backend: str | None = None,
        policy: ToolPolicy | None = None,
        peer_uid: int | None = None,
    ) -> None:
        """Build the host (nothing connects, nothing is bound until `run`).

        Args:
            socket_path: Where to listen; see `prepare_socket_path` for what is refused.
            servers: The parsed `mcpServers` entries (`${VAR}` expanded here).
            registry: The home's registry, shared with the kernel and other processes.
            logs_dir: Where each stdio server's stderr is written.
            connect_timeout: Seconds a server gets to start and answer `initialize`.
            sandbox_backend: The process sandbox of script tools; None: the best one.
            policy: Decides every call of every connected kernel (allowlist, approvals
                asked through the calling kernel's relay, budgets); None: no policy.
            peer_uid: The one other uid admitted (a sandboxed kernel's, which runs as
                uid 65534 when the host is root); the socket is handed to it (0600) and
                its folder opened to the sandbox group to read and enter (0750). None: only
                this process's uid.
        """
        self.socket_path = socket_path
        self.peer_uid = peer_uid
        self.host = ToolHost(
            servers,
            registry=registry,
            logs_dir=logs_dir,
            connect_timeout=connect_timeout,
            on_log=self.on_log,
            sandbox_backend=sandbox_backend,
            policy=policy,
        )
        self.audit = CallAudit(registry, f"host {socket_path}")
        """Records every call served here in the registry's call history."""
        self.registry = RegistryHandlers(
            self.host,
            registry,
            servers=list(servers),
            sandbox_backend=sandbox_backend,
            connect_timeout=connect_timeout,
            audit=self.audit,
        )
        """Serves the kernel's `registry/*` requests against `registry`."""
        self._peers: set[Peer] = set()
        self._serving: set[asyncio.Task[Any]] = set()
        # Connections are served on the host's own loop, so a call reaches `ToolHost.call`
        # on the loop it runs on: no thread hop each way.
        self._peer_loop: asyncio.AbstractEventLoop = self.host._loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._stop_asked = False

    def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM, SIGINT or `stop()`; then stop the host, remove the socket.

        Args:
            on_ready: Called once the socket listens (the host then starts connecting).

        Raises:
            ConfigError: The socket path is refused (`prepare_socket_path`).
        """
        asyncio.run(self._run(on_ready))

    def on_log(self, source: str, level: int, text: str) -> None:
        """The host's log sink: this process's log, and every connected kernel's."""
        logging.getLogger(f"toolkernel.server.{source}").log(level, "%s", text)
        self._broadcast("log", {"source": source, "level": level, "text": text})

    def stop(self) -> None:
        """Ask a running `run` to end, or a `run` still starting to end at once (any thread)."""
        self._stop_asked = True
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)

    async def _run(self, on_ready: Callable[[], None] | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if self._stop_asked:
            self._stopped.set()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(signum, self._stopped.set)
        peer_gid = SANDBOX_GID if self.peer_uid is not None else None
        prepare_socket_path(self.socket_path, peer_gid=peer_gid)
        listener = self._listen()
        made = self.socket_path.lstat()
        self.host.start()  # its loop, which serves the connections, runs from here on
        try:
            server = await self._on_peer_loop(
                asyncio.start_unix_server(self._connected, sock=listener, limit=MAX_LINE)
            )
        except BaseException:
            listener.close()
            await asyncio.to_thread(self.host.stop)
            raise
        try:
            if on_ready is not None:
                on_ready()
            await self._stopped.wait()
        finally:
            await self._on_peer_loop(self._close_connections(server))
            await asyncio.to_thread(self.host.stop)
            await asyncio.to_thread(self.audit.close)
            with contextlib.suppress(FileNotFoundError):
                if self.socket_path.lstat().st_ino == made.st_ino:
                    self.socket_path.unlink()

    async def _on_peer_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` on the loop that serves the connections (the host's)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._peer_loop))

    async def _close_connections(self, server: asyncio.Server) -> None:
        """Stop listening, close every connection, and let each one's handler finish."""
        server.close()
        for peer in list(self._peers):
            peer.close()
        if self._serving:
            await asyncio.wait(list(self._serving), timeout=CLOSE_WAIT_S)

    def _listen(self) -> socket.socket:
        """A listening socket at `socket_path`, usable by exactly who may connect.

        It is bound under a scratch name, made the peer's (`peer_uid`), and renamed into
        place listening: whoever sees the path can connect, never a socket not ready.
        """
        path = self.socket_path
        scratch = path.with_name(f"{path.name}~")
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where it is not
        try:
            listener.bind(str(scratch))
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old_umask)
        if self.peer_uid is not None:
            os.chown(scratch, self.peer_uid, -1, follow_symlinks=False)
            folder = path.parent
            if folder.lstat().st_gid != SANDBOX_GID:
                os.chown(folder, -1, SANDBOX_GID, follow_symlinks=False)
                folder.chmod(0o750)
        listener.listen()
        scratch.rename(path)
        return listener

    def _broadcast(self, method: str, params: dict[str, Any]) -> None:
        """Notify every connection; from any thread (the set is read on the loop only)."""
        loop = self._peer_loop
        if loop.is_closed():
            return
        if _running_loop() is not loop:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._broadcast, method, params)
            return
        for peer in list(self._peers):
            peer.notify(method, params)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = _peer_uid(writer)
        if uid is not None and uid not in (os.getuid(), self.peer_uid):
            log.warning("refused a connection from uid %s on %s", uid, self.socket_path)
            writer.close()
            return
        session = _Session(self.host, asyncio.get_running_loop())
        session.registry, session.audit = self.registry, self.audit
        session.pid = peer_pid(writer.get_extra_info("socket"))
        peer = Peer(reader, writer, on_request=session.serve, on_notify=_ignore, name="host")
        session.peer = peer
        self._peers.add(peer)
        handler = asyncio.current_task()
        if handler is not None:
            self._serving.add(handler)
        try:
            await peer.run()
        finally:
            self._serving.discard(handler)
            self._peers.discard(peer)
            session.close()
            writer.close()


class _Session:
    """One connection's state: its catalog subscription and the calls it makes."""

    def __init__(self, host: ToolHost, loop: asyncio.AbstractEventLoop) -> None:
        self.host = host
        self.loop = loop
        self.peer: Peer | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.registry: RegistryHandlers | None = None
        """Serves `registry/*`; None: this connection may not touch the registry."""
        self.audit: CallAudit | None = None
        """Records this connection's calls; None: they are not recorded."""
        self.pid: int | None = None
        """The connected process (the kernel), as the socket reports it."""

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def serve(self, method: str, params: dict[str, Any]) -> Any:
        handler = _HANDLERS.get(method)
        if handler is None and method.startswith("registry/") and self.registry is not None:
            return await self.registry.serve(method, params)
        if handler is None:
            msg = f"the tool host has no method {method!r}; it serves {', '.join(_HANDLERS)}"
            raise RpcError(msg, code=METHOD_NOT_FOUND)
        return await handler(self, params)

    async def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        version = params.get("protocol")
        if version != PROTOCOL_VERSION:
            msg = (
                f"this tool host speaks protocol {PROTOCOL_VERSION}, the kernel {version}; "
                "run the kernel and `toolkernel host` from the same toolkernel install"
            )
            raise RpcError(msg, code=INVALID_PARAMS)
        if self._unsubscribe is None:
            # The catalog now is told before this answer (same thread, in order), so the
            # kernel has every source's tools once `initialize` returns.
            self._unsubscribe = self.host.subscribe(self._catalog_changed)
        statuses = await self.host.statuses()
        return {"protocol": PROTOCOL_VERSION, "pid": os.getpid(), "servers": _names(statuses)}

    async def call(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str):
            msg = "tools/call needs a 'name' (the tool's qualified name)"
            raise RpcError(msg, code=INVALID_PARAMS)
        recorded = self.audit.start(name, params.get("arguments")) if self.audit else None
        try:
            result = await self._call(name, params)
        except BaseException as exc:
            if recorded is not None:
                recorded(exc, self.pid)
            raise
        if recorded is not None:
            recorded(result, self.pid)
        return {
            "tool": result.tool,
            "content": result.content,
            "structured": result.structured,
            "is_error": result.is_error,
            "meta": result.meta,
            "approval": result.approval,
        }

    async def _call(self, name: str, params: dict[str, Any]) -> ToolResult:
        rid = params.get("id")
        arguments = params.get("arguments")
        version = params.get("version")
        execution = params.get("execution")
        return await self.host.call(
            name,
            arguments if isinstance(arguments, dict) else {},
            version=version if isinstance(version, int) else None,
            on_progress=self._per_call("calls/progress", rid, ("progress", "total", "message")),
            on_output=self._per_call("calls/output", rid, ("text",)),
            on_log=self._per_call("calls/log", rid, ("source", "level", "text")),
            relay=self._relay(rid, params.get("relay"), params.get("relay_party")),
            execution=execution if isinstance(execution, str) else None,
        )

    async def catalog(self, params: dict[str, Any]) -> dict[str, Any]:
        found = await self.host.catalog()
        return {source: [spec.to_json() for spec in specs] for source, specs in found.items()}

    async def statuses(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        servers = params.get("servers")
        settle = params.get("settle")
        found = await self.host.statuses(
            [str(s) for s in servers] if isinstance(servers, list) else None,
            settle=float(settle) if isinstance(settle, int | float) else 0.0,
        )
        return [vars(status) for status in found]

    async def list_resources(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        server = params.get("server")
        return await self.host.list_resources(server if isinstance(server, str) else None)

    async def read_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        server = params.get("server")
        return await self.host.read_resource(
            str(params.get("uri")), server=server if isinstance(server, str) else None
        )

    def _catalog_changed(self, source: str, specs: list[ToolSpec]) -> None:
        if self.peer is not None:
            params = {"source": source, "tools": [spec.to_json() for spec in specs]}
            _notify_from_any_thread(self.loop, self.peer, "catalog/changed", params)

    def _per_call(self, method: str, rid: Any, keys: tuple[str, ...]) -> Callable[..., None]:
        def send(*values: Any) -> None:
            if self.peer is not None:
                params = {"id": rid, **dict(zip(keys, values, strict=True))}
                _notify_from_any_thread(self.loop, self.peer, method, params)

        return send

    def _relay(self, rid: Any, capabilities: Any, party: Any) -> KnownRelay | None:
        """Ask the kernel, over this connection, what the call's server asks its client.

        `party` is who answers the kernel's relay (`person` at a notebook, `client` through
        the bridge), so an approval the policy asks here is denied by the right one.
        """
        if not isinstance(capabilities, list) or self.peer is None:
            return None
        peer, loop = self.peer, self.loop

        async def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
            request = {"call": rid, "method": method, "params": params}
            work = peer.request("relay/request", request)
            if _running_loop() is loop:
                answer: dict[str, Any] = await work
            else:
                answer = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))
            return answer

        can = frozenset(str(c) for c in capabilities if c in _ALL_RELAY)
        return KnownRelay(ask, can, party if party in _PARTIES else "client")


_HANDLERS = {
    "initialize": _Session.initialize,
    "tools/call": _Session.call,
    "catalog": _Session.catalog,
    "statuses": _Session.statuses,
    "resources/list": _Session.list_resources,
    "resources/read": _Session.read_resource,
}


def _notify_from_any_thread(
    loop: asyncio.AbstractEventLoop, peer: Peer, method: str, params: dict[str, Any]
) -> None:
    """Send now on the service's own thread (keeps order with what follows), else hop."""
    if _running_loop() is loop:
        peer.notify(method, params)
    elif not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(peer.notify, method, params)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _names(statuses: list[Any]) -> list[str]:
    return [status.name for status in statuses]


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's uid (`SO_PEERCRED`); None where the system cannot say."""
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _ignore(method: str, params: dict[str, Any]) -> None:
    log.debug("the kernel sent an unknown notification %s", method)
