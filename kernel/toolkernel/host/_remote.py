"""RemoteToolHost: the `ToolHost` interface, served by a `toolkernel host` over a socket.

A kernel whose tools run outside it (the sandboxed kernel) uses this instead of the
in-process `ToolHost`: `--Toolbox.host_class=toolkernel.host.RemoteToolHost`, with the
host's socket in `$TOOLKERNEL_HOST_SOCKET`. It takes `ToolHost`'s constructor arguments
(so `Toolbox` builds it the same way) but ignores what belongs to the host process:
server configurations (with their credentials), logs and caches live there.

Like `ToolHost`, it runs one event loop in its own thread, so its coroutines are safe to
await from any loop (ipykernel's, a `run_blocking` thread's), and cancelling the
awaiting task cancels the call on the host, which cancels it on the MCP server. Tool
calls made on the main thread's loop (the kernel's own, where cells run) skip that
thread: once the host has answered, they go over a second connection served on the
caller's loop, which saves two thread hops per call.

Every wait on the host is bounded or ends when the connection does: a host that dies
fails the calls in flight, and later calls, with `ServerUnavailable` naming the socket;
a host that restarts on the same socket is reconnected to on the next request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkernel._spec import ClientRelay, ToolResult, ToolSpec, catalog_hash
from toolkernel.config import ServerConfig
from toolkernel.errors import ConfigError, ServerUnavailable
from toolkernel.host._host import CANCEL_GRACE_S, CatalogListener, LogCallback, ProgressCallback
from toolkernel.host._link import CallSinks, HostLink
from toolkernel.host._registry_rpc import RemoteToolChanges
from toolkernel.host._status import ServerStatus
from toolkernel.host._wire import SOCKET_ENV_VAR

if TYPE_CHECKING:
    from toolkernel.host._policy import ToolPolicy
    from toolkernel.registry import ToolRegistry

__all__ = ["HOST_STATUS_NAME", "SOCKET_ENV_VAR", "RemoteToolHost"]

T = TypeVar("T")
HOST_STATUS_NAME = "tool host"
"""The name of the one status listed when the host itself cannot be reached."""
log = logging.getLogger("toolkernel.host")


class RemoteToolHost:
    """A client of one `toolkernel host`, with `ToolHost`'s interface.

    `call`, `catalog`, `subscribe`, `statuses`, `list_resources`, `read_resource`,
    `source_kind`, `start`, `stop` behave as `ToolHost`'s; `set_servers` refuses (the
    host's `mcp.json` decides the servers, outside the kernel's reach).

    Until the host first answers, the catalog is the registry's cache of the servers
    named in `servers` (so bindings exist at once); then it is the host's, kept current
    by its `catalog/changed` pushes.
    """

    reads_own_config = True
    """The host's `mcp.json` names the servers (`server_names`), not the kernel's."""

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        registry: ToolRegistry,
        logs_dir: Path | None = None,
        connect_timeout: float = 30.0,
        on_log: LogCallback | None = None,
        cache_dir: Path | None = None,
        sandbox_backend: str | None = None,
        policy: ToolPolicy | None = None,
        socket_path: Path | None = None,
    ) -> None:
        """Make a client; nothing connects until `start()` (or the first request).

        Args:
            servers: The kernel's view of the servers: only their names are used, for
                the cached catalog and statuses before the host answers.
            registry: Where the cached catalogs are read from.
            logs_dir: Unused (the host writes the servers' logs).
            connect_timeout: Seconds to wait for a starting host's socket to appear.
            on_log: Receives the host's log messages (source, level, text).
            cache_dir: Unused (the host keeps the caches).
            sandbox_backend: Unused (the host runs script tools).
            policy: Unused: the host applies its own policy (`c.ToolPolicy` where
                `toolkernel host` runs), out of the kernel's reach.
            socket_path: The host's socket; default `$TOOLKERNEL_HOST_SOCKET`.

        Raises:
            ConfigError: No socket path was given and the variable is unset.
        """
        del logs_dir, cache_dir, sandbox_backend  # the host process's business
        self.socket_path = socket_path or _socket_from_env()
        self._servers = list(servers)
        self._listeners: list[CatalogListener] = []
        self._registry = registry
        self._catalog_lock = threading.RLock()
        self._hashes: dict[str, str] = {}
        self._specs: dict[str, list[ToolSpec]] = {}
        cached = registry.load_catalogs()
        for name in self._servers:
            if name in cached:
                self._remember(name, cached[name])
        self._link = HostLink(
            self.socket_path,
            connect_timeout=connect_timeout,
            on_catalog=self._apply,
            on_log=on_log or _log_to_logging,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name="toolkernel-remote", daemon=True
        )
        self._direct: tuple[asyncio.AbstractEventLoop, HostLink] | None = None
        """The connection served on the main thread's loop, for calls made there."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the client thread and connect to the host in the background."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._link.connected(), self._loop)
        future.add_done_callback(_log_failure)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and stop the client thread (bounded by `timeout`)."""
        if not self._thread.is_alive():
            return
        self._drop_direct()
        future = asyncio.run_coroutine_threadsafe(self._disconnect(), self._loop)
        try:
            future.result(timeout=timeout)
        except (concurrent.futures.TimeoutError, Exception) as exc:
            log.warning("the tool host client did not stop cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout)

    # -- the interface ---------------------------------------------------------------------

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        version: int | None = None,
        relay: ClientRelay | None = None,
        on_output: Callable[[str], None] | None = None,
        on_log: LogCallback | None = None,
        execution: str | None = None,
    ) -> ToolResult:
        """Call a tool on the host; as `ToolHost.call`.

        The host's own tool policy decides the call (`execution` is sent for its
        per-execution budget); its `ToolDenied` and `ToolCallLimit` are raised here.
        The callbacks run on this client's thread, or, for a call made on the main
        thread's loop, on that loop.

        Raises:
            ServerUnavailable: The host cannot be reached, or went away during the call
                (besides every error `ToolHost.call` raises, raised here as the same class).
        """
        sinks = CallSinks(on_progress, relay, on_output, on_log)
        args = dict(arguments or {})
        direct = self._direct_link()
        if direct is not None:
            return await direct.call(name, args, version, sinks, execution)
        return await self._on_client_loop(self._link.call(name, args, version, sinks, execution))

    def server_names(self) -> list[str]:
        """The host's configured servers (as its `mcp.json` names them), once it answered.

        Before that: the names this client was built with (usually none).
        """
        return list(self._server_names())

    def source_kind(self, source: str) -> str:
        """What the `source` of a log message is: `mcp`, a registry tool's kind, or `tool`."""
        if source in self._server_names():
            return "mcp"
        namespace, _, tool = source.partition(".")
        for spec in self._specs.get(namespace, []):
            if spec.name == tool:
                return spec.kind
        return "tool"

    async def list_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        """The resources of `server`, or of every connected server; as `ToolHost`'s."""
        params = {} if server is None else {"server": server}
        found: list[dict[str, Any]] = await self._ask("resources/list", params, server)
        return found

    async def read_resource(self, uri: str, *, server: str | None = None) -> dict[str, Any]:
        """Read one resource; as `ToolHost.read_resource`."""
        params: dict[str, Any] = {"uri": uri}
        if server is not None:
            params["server"] = server
        found: dict[str, Any] = await self._ask("resources/read", params, server)
        return found

    async def catalog(self) -> dict[str, list[ToolSpec]]:
        """Every source's tools as last heard from the host (or the cache), at once."""
        specs = self._specs
        return {source: list(tools) for source, tools in specs.items()}

    def subscribe(self, on_change: CatalogListener) -> Callable[[], None]:
        """Hear each source's tools now (in this thread), then each change the host pushes.

        Later calls come one at a time, in order, from this client's thread.

        Returns:
            A function that unsubscribes.
        """
        with self._catalog_lock:
            self._listeners.append(on_change)
            for source, specs in self._specs.items():
                _tell(on_change, source, list(specs))

        def unsubscribe() -> None:
            with self._catalog_lock:
                if on_change in self._listeners:
                    self._listeners.remove(on_change)

        return unsubscribe

    async def statuses(
        self, servers: Collection[str] | None = None, *, settle: float = 0.0
    ) -> list[ServerStatus]:
        """Each server's state, as the host sees it; as `ToolHost.statuses`.

        When the host cannot be reached, each known server is `failed`, and its detail
        says why and what to do; with no known server, one status named
        `HOST_STATUS_NAME` says it.
        """
        if not self._thread.is_alive():  # not started: nothing was attempted yet
            names = [n for n in self._server_names() if servers is None or n in servers]
            return [ServerStatus(n, "connecting", None, self._count(n)) for n in names]
        params: dict[str, Any] = {"settle": settle}
        if servers is not None:
            params["servers"] = list(servers)
        try:
            found = await self._ask("statuses", params, None, wait=settle)
        except ServerUnavailable as exc:
            names = [n for n in self._server_names() if servers is None or n in servers]
            if not names and servers is None:  # no server to blame: the host itself failed
                return [ServerStatus(HOST_STATUS_NAME, "failed", str(exc), None)]
            return [ServerStatus(n, "failed", str(exc), self._count(n)) for n in names]
        return [ServerStatus(**row) for row in found]

    def set_servers(self, servers: Mapping[str, ServerConfig], timeout: float = 15.0) -> None:
        """Refuse: the host's `mcp.json` decides its servers, outside this kernel's reach.

        Raises:
            ConfigError: Always, saying where to change the servers instead.
        """
        msg = (
            f"this kernel's tools run in a separate tool host ({self.socket_path}), whose "
            "servers come from its own mcp.json: change that file outside the kernel, then "
            "restart the kernel"
        )
        raise ConfigError(msg)

    def registry_changes(self) -> RemoteToolChanges:
        """The kernel's registry changes and reads, served by the host (`registry/*`).

        A `Toolbox` whose host offers this sends `create_tool`, rollbacks, deletes,
        versions, diffs and `call_history` here, to the real registry outside the
        sandbox, instead of to its own.
        """
        return RemoteToolChanges(self)

    async def registry_request(
        self, method: str, params: dict[str, Any], *, wait: float = 0.0
    ) -> Any:
        """Send one `registry/*` request; bounded by the connect timeout plus `wait`.

        Raises:
            ServerUnavailable: The host cannot be reached, went away, or did not answer.
            ToolkernelError: What the host's registry raised (the same class).
        """
        return await self._ask(method, params, None, wait=wait)

    def registry_request_blocking(
        self, method: str, params: dict[str, Any], *, wait: float = 0.0
    ) -> Any:
        """`registry_request` from synchronous code (a cell's `create_tool`).

        An interrupt (KeyboardInterrupt) while waiting cancels the request on the host
        too, and is raised at once: the cell never waits out a long build.

        Raises:
            The errors of `registry_request`.
        """
        if not self._thread.is_alive():
            msg = f"the tool host client is not running (start() it); socket {self.socket_path}"
            raise ServerUnavailable(msg, tool="", server="")
        work = self._link.ask(method, params, server="", wait=wait)
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()  # bounded by `ask`: the connect timeout plus `wait`
        except BaseException:
            future.cancel()  # an interrupt: `$/cancel` goes to the host
            raise

    # -- internals -------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _on_client_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` on this client's loop, whichever loop the caller awaits on."""
        if asyncio.get_running_loop() is self._loop:
            return await work
        if not self._thread.is_alive():
            work.close()
            msg = f"the tool host client is not running (start() it); socket {self.socket_path}"
            raise ServerUnavailable(msg, tool="", server="")
        wound_down = threading.Event()

        async def tracked() -> T:
            try:
                return await work
            finally:
                wound_down.set()

        future = asyncio.run_coroutine_threadsafe(tracked(), self._loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # The host has been told (`$/cancel`) and has wound the call down once this
            # returns, as with the in-process host; bounded.
            await asyncio.to_thread(wound_down.wait, CANCEL_GRACE_S + 2)
            raise

    def _direct_link(self) -> HostLink | None:
        """The connection for a call on the running loop, if it gets one of its own.

        Only the main thread's loop does (it lives as long as the kernel; a
        `run_blocking` thread's loop lives for one call), and only once the host has
        answered on the client's connection: until then, and for any other loop, calls
        go through the client's thread, which waits for a starting host.
        """
        loop = asyncio.get_running_loop()
        if (
            loop is self._loop
            or threading.current_thread() is not threading.main_thread()
            or self._link.servers is None  # the host has not answered yet
            or not self._thread.is_alive()
        ):
            return None
        if self._direct is not None and self._direct[0] is loop:
            return self._direct[1]
        self._drop_direct()  # made on an earlier main-thread loop (`asyncio.run` again)
        link = HostLink(
            self.socket_path,
            connect_timeout=self._link.connect_timeout,
            on_catalog=_ignore_catalog,  # the client's connection hears the pushes
            on_log=_ignore_log,
            reached_before=True,  # a missing socket means the host is gone
        )
        self._direct = (loop, link)
        return link

    def _drop_direct(self) -> None:
        """Close the main-thread loop's connection (on its loop, if that still runs)."""
        direct, self._direct = self._direct, None
        if direct is None:
            return
        loop, link = direct
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            if not loop.is_closed():
                link.close()
            return
        with contextlib.suppress(RuntimeError):  # it closed meanwhile
            loop.call_soon_threadsafe(link.close)

    async def _ask(
        self, method: str, params: dict[str, Any], server: str | None, wait: float = 0.0
    ) -> Any:
        work = self._link.ask(method, params, server=server or "", wait=wait)
        return await self._on_client_loop(work)

    async def _disconnect(self) -> None:
        self._link.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _server_names(self) -> list[str]:
        """The host's servers once it answered, else the ones this kernel was given."""
        return self._link.servers if self._link.servers is not None else self._servers

    def _apply(self, source: str, specs: list[ToolSpec]) -> None:
        with self._catalog_lock:
            digest = catalog_hash(specs)
            if self._hashes.get(source) == digest:
                return
            self._remember(source, specs, digest)
            for listener in list(self._listeners):
                _tell(listener, source, specs)

    def _remember(self, source: str, specs: list[ToolSpec], digest: str | None = None) -> None:
        self._specs = {**self._specs, source: list(specs)}
        self._hashes[source] = digest or catalog_hash(specs)

    def _count(self, server: str) -> int | None:
        specs = self._specs.get(server)
        return len(specs) if specs is not None else None


def _socket_from_env() -> Path:
    value = os.environ.get(SOCKET_ENV_VAR)
    if not value:
        msg = (
            f"RemoteToolHost needs its tool host's socket: set ${SOCKET_ENV_VAR} (the "
            "path `toolkernel host --socket` listens on)"
        )
        raise ConfigError(msg)
    return Path(value)


def _tell(listener: CatalogListener, source: str, specs: list[ToolSpec]) -> None:
    try:
        listener(source, specs)
    except Exception:
        log.exception("catalog listener failed for %r", source)


def _ignore_catalog(source: str, specs: list[ToolSpec]) -> None:
    del source, specs


def _ignore_log(source: str, level: int, text: str) -> None:
    del source, level, text


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("%s", future.exception())


def _log_to_logging(source: str, level: int, text: str) -> None:
    logging.getLogger(f"toolkernel.server.{source}").log(level, "%s", text)
