"""ToolHost: the one place that calls tools.

It owns one asyncio event loop in its own thread, so it never depends on the loop of
whoever calls it (ipykernel's, the bridge's, a kernel subshell's, a test's). Its
coroutines hop onto that loop themselves: a caller on any loop just awaits them, and
cancelling the awaiting task cancels the call (the MCP SDK then sends the server
`notifications/cancelled`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolkernel._spec import ClientRelay, ToolResult, ToolSpec, catalog_hash
from toolkernel.config import InvalidServer, ServerConfig
from toolkernel.errors import (
    ServerUnavailable,
    ToolCancelled,
    ToolError,
    ToolNotFound,
    UrlElicitationRequired,
)
from toolkernel.host._convert import result_from_mcp
from toolkernel.host._failures import ConnectFailed, RequestNotSent
from toolkernel.host._local import CallHooks, LocalTools
from toolkernel.host._policy import ToolPolicy
from toolkernel.host._resources import serve_resources
from toolkernel.host._status import ServerStatus
from toolkernel.host._validate import compile_validator, validate_arguments, warm_validator

if TYPE_CHECKING:
    from mcp.shared.exceptions import MCPError

    from toolkernel.host._connection import ServerConnection
    from toolkernel.registry import ToolRegistry

__all__ = ["CatalogListener", "ClientRelay", "ProgressCallback", "ServerStatus", "ToolHost"]

T = TypeVar("T")
log = logging.getLogger("toolkernel.host")

ProgressCallback = Callable[[float, float | None, str | None], None]
"""Receives progress of one call: (progress, total or None, message or None)."""
LogCallback = Callable[[str, int, str], None]
"""Receives log messages: (server or tool, logging level, text)."""
CatalogListener = Callable[[str, list[ToolSpec]], None]
"""Receives a source's tools: (source, specs); see `ToolHost.subscribe`."""
REGISTRY_POLL_S = 0.25
"""How often the host checks whether another process changed the registry's tools."""
CANCEL_GRACE_S = 6.0
"""How long a cancelled caller waits for its call to wind down (`tasks/cancel`, say)."""

_OUTER_CALL: contextvars.ContextVar[tuple[ClientRelay | None, str | None]] = contextvars.ContextVar(
    "toolkernel_outer_call", default=(None, None)
)
"""The relay and execution of the call running on the host loop: a tool it calls (a
pipeline's step, a script's `tools/call`) is decided by the policy as part of it."""


class ToolHost:
    """The one place that calls tools: every MCP server's, and the registry's by kind.

    Its interface is small on purpose, since a host in another process (the sandboxed
    kernel's) implements the same one:

    - `await call(name, arguments, ...)`: call one tool, by its qualified name.
    - `await catalog()`: every source's tools now.
    - `subscribe(on_change)`: hear each source's tools now, then every change.
    - `await statuses(servers, settle=...)`: each server's state, optionally once its
      first connection attempt is over.
    - `await list_resources(server)`, `await read_resource(uri, server=...)`: the
      servers' resources.
    - `start()` and `stop()`: connect in the background; disconnect.

    The coroutines are safe to await from any event loop, in any thread: each runs its
    work on the host's own loop (its thread), and cancelling the awaiting task cancels
    that work. The registry is required: it caches catalogs (so bindings exist before
    servers answer), receives server status, and holds the registry tools, whose
    changes the host follows at once for writes made through it, and within
    `REGISTRY_POLL_S` for other processes'.
    """

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        registry: ToolRegistry,
        logs_dir: Path,
        connect_timeout: float = 30.0,
        on_log: LogCallback | None = None,
        cache_dir: Path | None = None,
        sandbox_backend: str | None = None,
        policy: ToolPolicy | None = None,
    ) -> None:
        """Create a host; nothing connects until `start()`.

        Args:
            servers: The parsed `mcpServers` entries.
            registry: Where catalogs are cached, server status is published and
                registry tools (WASM, scripts, ...) are read from.
            logs_dir: Where each stdio server's stderr is written.
            connect_timeout: Seconds a server gets to start and answer `initialize`.
            on_log: Receives server log messages (server, level, text); defaults to
                the `toolkernel.server.<name>` loggers.
            cache_dir: Where compiled WASM modules are cached; defaults to
                `<registry home>/cache`.
            sandbox_backend: The process sandbox for script tools (`bwrap`,
                `firejail`, `nsjail`, or the opt-in `rlimits`); default: the best one.
            policy: Decides each call first (allowlist, approvals, budgets); None:
                every call goes through.
        """
        self._registry = registry
        self._policy = policy
        self._servers = dict(servers)
        self._logs_dir = logs_dir
        self._connect_timeout = connect_timeout
        self._on_log = on_log or _log_to_logging
        self._listeners: list[CatalogListener] = []
        # Held while the catalog changes and listeners hear of it, and while a new
        # listener hears the catalog: each listener sees every state once, in order.
        self._catalog_lock = threading.RLock()
        self._known_hashes: dict[str, str] = {}
        self._published: dict[str, tuple[str, str | None, int | None]] = {}
        self._validators: dict[str, dict[str, Any]] = {}
        # Replaced on each change, never changed in place, so any thread reads it freely.
        self._specs: dict[str, dict[str, ToolSpec]] = {}
        self._local = LocalTools(
            registry,
            cache_dir=cache_dir or registry.home / "cache",
            sandbox_backend=sandbox_backend,
        )
        self._local.host_call = self.call
        self._local.resources = self._resources
        cached = registry.load_catalogs()
        for name in servers:
            if name in cached:
                self._remember(name, cached[name])
        for namespace, specs in self._local.load(servers).items():
            self._remember(namespace, specs)
        self._unfollow = registry.on_tools_changed(self._refresh_local)
        self._watcher: asyncio.Task[None] | None = None
        # Connections, and with them the MCP SDK (about 0.7 s to import), are made on the
        # host thread when it starts, so the kernel never waits for that import.
        self._connections: dict[str, ServerConnection] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="toolkernel-host", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the host thread and begin connecting every server in the background."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_all(), self._loop)
        threading.Thread(target=warm_validator, name="toolkernel-warm", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect every server and stop the host thread (bounded by `timeout`)."""
        self._unfollow()
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
        try:
            future.result(timeout=timeout)
        except (concurrent.futures.TimeoutError, Exception) as exc:
            log.warning("tool host did not stop cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout)
        self._local.close()

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
        """Call a tool by its qualified name (`server.tool`, the tool's original name).

        Returns the result even when the tool reports an error (`is_error`); the
        caller decides whether that raises. The callbacks are called on the host's
        thread.

        A tool that declares `execution.taskSupport` `required` (or `optional`, on an
        HTTP server) is called as an MCP task: awaited the same way, its status
        messages arriving as progress, and cancelled on the server when the caller
        is. A server's -32042 error (the user must open a link first) is offered
        through `relay` as a URL elicitation, and once accepted the call is retried
        once.

        The host's tool policy, if it has one, decides first: a tool it does not allow,
        or one whose approval (asked through `relay`) is denied, raises `ToolDenied`; a
        call over its budget raises `ToolCallLimit`. Nothing is sent then. An approved
        call's result says how it was approved (`ToolResult.approval`).

        Args:
            name: `server.tool` for an MCP tool, `namespace.tool` for a registry tool.
            arguments: The arguments object, keyed by the tool's own argument names.
            on_progress: Receives the call's progress notifications.
            version: For a registry tool, call this version instead of the current one.
            relay: Answers the sampling and elicitation requests the tool sends
                while this call runs; without one they are refused.
            on_output: Receives what a script tool streams (`stream/chunk`).
            on_log: Also receives a script tool's `log` messages (they always go to
                the host's log sink too).
            execution: An id of the cell execution the call is made from (for the
                policy's per-execution budget); None: not from a cell.

        Raises:
            ToolNotFound: No configured server or registry namespace offers that tool,
                or it has no such version.
            ToolInputError: The arguments do not match the input schema (nothing sent).
            ServerUnavailable: The server could not be reached, or died during the call.
            ToolCancelled: The server reported the request as cancelled or timed out.
            UrlElicitationRequired: The server still needs the user to open a link
                (nobody could be asked, or someone declined); it carries the links.
            SandboxError: The sandbox stopped a registry tool (a limit, a trap).
            ToolDenied: The tool policy refused the call, or its approval was denied.
            ToolCallLimit: The call is over the tool policy's budget.
        """
        args = dict(arguments or {})
        local = name.partition(".")[0] in self._local.namespaces
        if not local and version is not None:
            msg = f"{name} is an MCP tool; only registry tools have versions to pin"
            raise ToolNotFound(msg, tool=name, version=version)
        hooks = CallHooks(relay, on_progress, on_output, _both(self._on_log, on_log))
        work = self._call(name, args, version, hooks, local=local, execution=execution)
        return await self._on_host_loop(work)

    def source_kind(self, source: str) -> str:
        """What the `source` of a log message is, for its label.

        `mcp` for a configured server's name; else the kind of the registry tool it
        names (`script`), or `tool` when there is no such tool now.
        """
        if source in self._servers:
            return "mcp"
        version = self._local.current(source)
        return version.kind if version is not None else "tool"

    async def list_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        """Return the resources of `server`, or of every connected server (`resources/list`).

        Each is the MCP resource as JSON (`uri`, `name`, `mimeType`, ...) plus its `server`.

        Raises:
            ToolNotFound: No server has that name.
            ServerUnavailable: That server could not be reached.
            ToolError: That server refused.
        """
        params = {} if server is None else {"server": server}
        answer = await self._on_host_loop(self._resources("resources/list", params))
        found: list[dict[str, Any]] = answer["resources"]
        return found

    async def read_resource(self, uri: str, *, server: str | None = None) -> dict[str, Any]:
        """Read one resource (`resources/read`) from `server`, else from whichever can.

        Returns:
            The MCP answer as JSON: `{"contents": [{"uri", "mimeType", "text" | "blob"}]}`.

        Raises:
            ToolNotFound: No server has that name.
            ServerUnavailable: That server could not be reached.
            ToolError: No server could read it (the message says why).
        """
        params: dict[str, Any] = {"uri": uri}
        if server is not None:
            params["server"] = server
        return await self._on_host_loop(self._resources("resources/read", params))

    async def catalog(self) -> dict[str, list[ToolSpec]]:
        """Return every source's tools now, without waiting for a server.

        A server's are live once it connected, else from the registry's catalog cache;
        a server with neither is absent. Every registry namespace is there too (one
        whose last tool was deleted, with no tools).
        """
        specs = self._specs
        return {source: list(tools.values()) for source, tools in specs.items()}

    def subscribe(self, on_change: CatalogListener) -> Callable[[], None]:
        """Call `on_change(source, specs)` for each source now, then whenever one changes.

        The first calls come before this returns, in this thread: the catalog as it is
        (what `catalog()` returns), so a subscriber needs no separate read and misses
        nothing in between. Later calls come one at a time, in order, from the thread
        that saw the change (the host's, or one that wrote to the registry). A
        listener that raises is logged and kept.

        Returns:
            A function that unsubscribes.
        """
        with self._catalog_lock:
            self._listeners.append(on_change)
            for source, specs in self._specs.items():
                _tell(on_change, source, list(specs.values()))

        def unsubscribe() -> None:
            with self._catalog_lock:
                if on_change in self._listeners:
                    self._listeners.remove(on_change)

        return unsubscribe

    async def statuses(
        self, servers: Collection[str] | None = None, *, settle: float = 0.0
    ) -> list[ServerStatus]:
        """Return each configured server's state (or each of `servers`'), in config order.

        Args:
            servers: Only these servers (unknown names are skipped); default: all.
            settle: First wait, at most this many seconds, until each has made its
                first connection attempt; a server still `connecting` after that is
                slow to start. The default answers at once.
        """
        chosen = [name for name in self._servers if servers is None or name in servers]
        if settle > 0 and chosen and self._thread.is_alive():  # unstarted: no attempt comes
            await self._on_host_loop(self._settle(chosen, settle))
        return [self._status(name) for name in chosen]

    def set_servers(self, servers: Mapping[str, ServerConfig], timeout: float = 15.0) -> None:
        """Follow a changed server list: stop removed and changed servers, start new ones.

        A server whose entry is unchanged keeps its connection. A removed server's
        tools leave the catalog (listeners are not told: the caller drops them). New
        and changed servers connect in the background; `statuses(settle=...)` waits.
        Safe from any thread but the host's; bounded by `timeout` (stopping servers).
        """
        work = self._reconcile(dict(servers))
        if not self._thread.is_alive():
            asyncio.run(work)
            return
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    # -- internals -------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def _on_host_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` on the host loop, whichever loop the caller awaits on."""
        if asyncio.get_running_loop() is self._loop:
            return await work  # a tool calling a tool, or the host itself
        wound_down = threading.Event()

        async def tracked() -> T:
            try:
                return await work
            finally:
                wound_down.set()

        wrapper = tracked()
        try:
            future = asyncio.run_coroutine_threadsafe(wrapper, self._loop)
        except RuntimeError:  # the host was stopped
            wrapper.close()
            work.close()
            raise
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Let the work wind down first (a task call sends `tasks/cancel`), bounded,
            # so a cancelled caller knows the server has been told once this returns.
            await asyncio.to_thread(wound_down.wait, CANCEL_GRACE_S)
            raise

    async def _call(
        self,
        name: str,
        args: dict[str, Any],
        version: int | None,
        hooks: CallHooks,
        *,
        local: bool,
        execution: str | None,
    ) -> ToolResult:
        """Let the policy decide the call, then make it (on the host loop).

        A call a registry tool makes while it runs has no relay or execution of its own:
        the policy asks through, and counts against, those of the call that runs it.
        """
        outer_relay, outer_execution = _OUTER_CALL.get()
        relay = hooks.relay or outer_relay
        execution = execution or outer_execution
        approval = None
        # A policy left at its defaults decides nothing: the hot path skips it.
        if self._policy is not None and self._policy.restricts:
            spec = self._spec_of(name)
            approval = await self._policy.admit(name, spec, args, relay, execution=execution)
        if not local:
            result = await self._call_server(name, args, hooks.on_progress, hooks.relay)
            result.approval = approval
            return result
        token = _OUTER_CALL.set((relay, execution))
        try:
            result = await self._local.call(name, args, version=version, hooks=hooks)
        finally:
            _OUTER_CALL.reset(token)
        result.approval = approval
        return result

    def _spec_of(self, name: str) -> ToolSpec | None:
        """The spec of the tool `name` (by the longest source prefix), if known."""
        specs = self._specs
        sources = [s for s in specs if name.startswith(s + ".")]
        if not sources:
            return None
        source = max(sources, key=len)
        return specs[source].get(name[len(source) + 1 :])

    async def _call_server(
        self,
        name: str,
        args: dict[str, Any],
        on_progress: ProgressCallback | None,
        relay: ClientRelay | None,
    ) -> ToolResult:
        from mcp.shared.exceptions import MCPError  # noqa: PLC0415 - imported on this thread

        connection, tool = self._resolve(name)
        session = await self._session_of(connection, name)
        spec = self._specs.get(connection.name, {}).get(tool)
        if spec is None:
            raise self._not_found(name, connection.name)
        validate_arguments(spec, self._validator(spec), args)
        progress = _progress_adapter(on_progress) if on_progress is not None else None
        try:
            with connection.relaying(relay):
                try:
                    result = await connection.call_tool(session, tool, args, progress)
                except RequestNotSent as exc:
                    # The server went away before the request was written (it died
                    # while idle): it never saw the call, so sending it again is safe.
                    self._went_away(connection, f"{exc}; sent again on a new connection")
                    session = await self._session_of(connection, name)
                    result = await connection.call_tool(session, tool, args, progress)
        except RequestNotSent as exc:
            self._went_away(connection, str(exc))
            msg = (
                f"{name} was not sent: server {connection.name!r} went away twice in a row "
                f"({exc}). See `%tools` for its status and its stderr log, then retry"
            )
            raise ServerUnavailable(msg, tool=name, server=connection.name) from exc
        except MCPError as exc:
            raise self._call_failed(name, connection, exc) from exc
        except RuntimeError as exc:
            # The SDK raises RuntimeError when structured output breaks the outputSchema.
            msg = f"{name}: the server's result is invalid: {exc}"
            raise ToolError(msg, tool=name) from exc
        return result_from_mcp(name, result)

    async def _session_of(self, connection: ServerConnection, name: str) -> Any:
        """The connection's live session, (re)connecting it; publishes its state."""
        try:
            return await connection.ensure_connected()
        except ConnectFailed as exc:
            raise ServerUnavailable(str(exc), tool=name, server=connection.name) from exc
        finally:
            self._publish_status(connection)

    def _went_away(self, connection: ServerConnection, reason: str) -> None:
        connection.mark_disconnected(f"server {connection.name!r}: {reason}")
        self._publish_status(connection)

    async def _settle(self, servers: list[str], timeout: float) -> None:
        """Wait (at most `timeout` s) until each of `servers` made its first attempt."""
        self._build_connections()
        try:
            async with asyncio.timeout(timeout):
                for name in servers:
                    await self._connections[name].first_attempt_done.wait()
        except TimeoutError:
            pass

    def _status(self, name: str) -> ServerStatus:
        conn = self._connections.get(name)
        config = self._servers[name]
        if conn is not None:
            state, detail = conn.state, conn.detail
        elif isinstance(config, InvalidServer):
            state, detail = "failed", config.reason
        else:
            state, detail = "connecting", None
        specs = self._specs.get(name)
        return ServerStatus(name, state, detail, len(specs) if specs is not None else None)

    def _build_connections(self) -> list[ServerConnection]:
        """Make the connections still missing (none connects yet); return the new ones."""
        missing = [name for name in self._servers if name not in self._connections]
        if not missing:
            return []
        from toolkernel.host._connection import ServerConnection  # noqa: PLC0415 - see __init__

        made = [
            ServerConnection(
                self._servers[name],
                connect_timeout=self._connect_timeout,
                logs_dir=self._logs_dir,
                on_tools=self._tools_arrived,
                on_log=self._on_log,
                on_state=self._publish_status,
            )
            for name in missing
        ]
        self._connections = {**self._connections, **{conn.name: conn for conn in made}}
        return made

    async def _reconcile(self, servers: dict[str, ServerConfig]) -> None:
        """Stop the servers that went or changed, then start the new and changed ones."""
        old, self._servers = self._servers, servers
        gone = [name for name in old if old[name] != servers.get(name)]
        closing = [self._connections[name] for name in gone if name in self._connections]
        self._connections = {n: c for n, c in self._connections.items() if n not in gone}
        await asyncio.gather(*(conn.close() for conn in closing))
        with self._catalog_lock:
            dropped = [name for name in gone if name not in servers]
            self._specs = {k: v for k, v in self._specs.items() if k not in dropped}
            for name in dropped:
                self._known_hashes.pop(name, None)
                self._published.pop(name, None)
                self._forget_status(name)
            cached = self._registry.load_catalogs()
            self._apply({n: cached[n] for n in servers if n not in old and n in cached})
        self._refresh_local()
        if not self._thread.is_alive() or self._watcher is None:
            return  # not started: `start()` connects them all
        for conn in self._build_connections():
            self._publish_status(conn)
            self._loop.create_task(self._start_one(conn), name=f"start-{conn.name}")

    async def _watch_registry(self) -> None:
        """Follow registry tool changes other processes make (polled, cheap)."""
        registry = self._registry
        seen = registry.change_count()
        while True:
            await asyncio.sleep(REGISTRY_POLL_S)
            try:
                now = registry.change_count()
                if now != seen:
                    seen = now
                    await asyncio.to_thread(self._refresh_local)
            except Exception:
                log.exception("could not follow registry changes; retrying")

    async def _start_all(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch_registry())
        self._build_connections()
        for conn in self._connections.values():
            self._publish_status(conn)
        await asyncio.gather(*(self._start_one(c) for c in self._connections.values()))

    async def _start_one(self, conn: ServerConnection) -> None:
        try:
            await conn.ensure_connected()
        except ConnectFailed as exc:
            log.warning("%s", exc)
        self._publish_status(conn)

    async def _resources(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._build_connections()
        return await serve_resources(self._connections, method, params)

    async def _close_all(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await self._local.aclose()
        await asyncio.gather(*(c.close() for c in self._connections.values()))

    def _resolve(self, name: str) -> tuple[ServerConnection, str]:
        self._build_connections()
        best = ""
        for server in self._servers:
            if name.startswith(server + ".") and len(server) > len(best):
                best = server
        if not best:
            servers = ", ".join(sorted(self._servers)) or "none configured"
            msg = f"no server offers {name!r}; names look like 'server.tool' (servers: {servers})"
            raise ToolNotFound(msg, tool=name)
        return self._connections[best], name[len(best) + 1 :]

    def _not_found(self, name: str, server: str) -> ToolNotFound:
        tools = sorted(self._specs.get(server, {}))
        shown = ", ".join(tools[:20]) + (" ..." if len(tools) > 20 else "")
        msg = f"server {server!r} has no tool {name[len(server) + 1 :]!r}; it offers: {shown}"
        return ToolNotFound(msg, tool=name)

    def _call_failed(self, name: str, conn: ServerConnection, exc: MCPError) -> ToolError:
        from mcp_types import (  # noqa: PLC0415 - see __init__
            CONNECTION_CLOSED,
            REQUEST_TIMEOUT,
            URL_ELICITATION_REQUIRED,
        )

        if exc.code == CONNECTION_CLOSED:
            tail = conn.stderr_tail()
            stderr = f" (stderr: {tail})" if tail else ""
            reason = f"server {conn.name!r} disconnected during the call to {name}{stderr}"
            conn.mark_disconnected(reason + "; it reconnects on the next call")
            self._publish_status(conn)
            msg = (
                f"{reason}. The call was not sent again, since the server may have run it; "
                "retry if the tool is safe to repeat (the server restarts on the next call)."
            )
            return ServerUnavailable(msg, tool=name, server=conn.name)
        if exc.code == REQUEST_TIMEOUT:
            return ToolCancelled(f"{name} timed out: {exc.error.message}", tool=name)
        if exc.code == URL_ELICITATION_REQUIRED:
            return _url_elicitation_required(name, exc)
        return ToolError(f"{name}: {exc.error.message}", tool=name)

    def _tools_arrived(self, source: str, specs: list[ToolSpec]) -> None:
        try:
            self._registry.save_catalog(source, specs)
        except Exception:
            log.exception("could not cache the catalog of %r", source)
        self._apply({source: specs})

    def _refresh_local(self) -> None:
        """Re-read the registry's tools (after a write here, or one another process made)."""
        with self._catalog_lock:
            self._apply(self._local.load(self._servers))

    def _apply(self, catalogs: Mapping[str, list[ToolSpec]]) -> None:
        """Take the sources whose tools changed, and tell the listeners of each."""
        with self._catalog_lock:
            for source, specs in catalogs.items():
                digest = catalog_hash(specs)
                if self._known_hashes.get(source) == digest:
                    continue
                self._remember(source, specs, digest)
                for listener in list(self._listeners):
                    _tell(listener, source, specs)

    def _validator(self, spec: ToolSpec) -> Any:
        validators = self._validators.setdefault(spec.source, {})
        if spec.name not in validators:
            validators[spec.name] = compile_validator(spec.input_schema)
        return validators[spec.name]

    def _remember(self, source: str, specs: list[ToolSpec], digest: str | None = None) -> None:
        self._validators.pop(source, None)
        self._specs = {**self._specs, source: {spec.name: spec for spec in specs}}
        self._known_hashes[source] = digest or catalog_hash(specs)

    def _forget_status(self, name: str) -> None:
        try:
            self._registry.set_server_status(
                name, "disabled", detail="removed from the server list (mcp.json or remove_server)"
            )
        except Exception:
            log.exception("could not publish the removal of %r", name)

    def _publish_status(self, conn: ServerConnection) -> None:
        count = len(self._specs[conn.name]) if conn.name in self._specs else None
        status = (conn.state, conn.detail, count)
        if self._published.get(conn.name) == status:
            return
        self._published[conn.name] = status
        try:
            self._registry.set_server_status(
                conn.name, conn.state, detail=conn.detail, tool_count=count
            )
        except Exception:
            log.exception("could not publish the status of %r", conn.name)


def _tell(listener: CatalogListener, source: str, specs: list[ToolSpec]) -> None:
    try:
        listener(source, specs)
    except Exception:
        log.exception("catalog listener failed for %r", source)


def _url_elicitation_required(name: str, exc: MCPError) -> UrlElicitationRequired:
    data = exc.error.data if isinstance(exc.error.data, dict) else {}
    found = data.get("elicitations")
    elicitations = [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []
    links = "; ".join(f"{e.get('message') or 'open'}: {e.get('url')}" for e in elicitations)
    msg = (
        f"{name} needs you to open a link first ({links or exc.error.message}). Open it, "
        "finish there, then call the tool again."
    )
    return UrlElicitationRequired(msg, tool=name, elicitations=elicitations)


def _progress_adapter(on_progress: ProgressCallback) -> Any:
    async def forward(progress: float, total: float | None, message: str | None) -> None:
        on_progress(progress, total, message)

    return forward


def _both(first: LogCallback, second: LogCallback | None) -> LogCallback:
    if second is None:
        return first

    def both(tool: str, level: int, text: str) -> None:
        first(tool, level, text)
        second(tool, level, text)

    return both


def _log_to_logging(server: str, level: int, text: str) -> None:
    logging.getLogger(f"toolkernel.server.{server}").log(level, "%s", text)
