"""ToolHost: the one place that calls tools.

It owns one asyncio event loop in its own thread, so it never depends on the loop of
whoever calls it (ipykernel's, the bridge's, a test's). Callers submit coroutines with
`submit()` (a `concurrent.futures.Future`) and may await it with `asyncio.wrap_future`;
cancelling that future cancels the call, and the MCP SDK then sends the server
`notifications/cancelled`.

Its interface is narrow on purpose (`catalog`, `call`, `subscribe`), so that a host
running in another process can replace it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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
)
from toolkernel.host._convert import result_from_mcp
from toolkernel.host._failures import ConnectFailed
from toolkernel.host._local import CallHooks, LocalTools
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
CatalogListener = Callable[[str, list[ToolSpec]], None]
"""Receives a source's new tool list when it changed: (source, specs)."""
REGISTRY_POLL_S = 0.25
"""How often the host checks whether another process changed the registry's tools."""


class ToolHost:
    """Connects to every configured MCP server and runs every tool call."""

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        registry: ToolRegistry | None = None,
        logs_dir: Path,
        connect_timeout: float = 30.0,
        on_log: Callable[[str, int, str], None] | None = None,
        cache_dir: Path | None = None,
        sandbox_backend: str | None = None,
    ) -> None:
        """Create a host; nothing starts until `start()`.

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
        """
        self._registry = registry
        self.connect_timeout = connect_timeout
        self._on_log = on_log or _log_to_logging
        self._listeners: list[CatalogListener] = []
        self._listeners_lock = threading.Lock()
        self._known_hashes: dict[str, str] = {}
        self._published: dict[str, tuple[str, str | None, int | None]] = {}
        self._validators: dict[str, Any] = {}
        self._specs: dict[str, dict[str, ToolSpec]] = {}
        cached = registry.load_catalogs() if registry is not None else {}
        for name in servers:
            if name in cached:
                self._remember(name, cached[name])
        self._local: LocalTools | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._local_lock = threading.Lock()
        if registry is not None:
            self._local = LocalTools(
                registry,
                cache_dir=cache_dir or registry.home / "cache",
                sandbox_backend=sandbox_backend,
            )
            self._local.host_call = self._nested_call
            self._local.resources = self._resources
            for namespace, specs in self._local.load(servers).items():
                self._remember(namespace, specs)
        # Connections, and with them the MCP SDK (about 0.7 s to import), are made on the
        # host thread when it starts, so the kernel never waits for that import.
        self._servers = dict(servers)
        self._logs_dir = logs_dir
        self._connections: dict[str, ServerConnection] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="toolkernel-host", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The host's event loop (runs in the host thread)."""
        return self._loop

    def start(self) -> None:
        """Start the host thread and begin connecting every server in the background."""
        self._thread.start()
        self.submit(self._start_all())
        threading.Thread(target=warm_validator, name="toolkernel-warm", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect every server and stop the host thread (bounded by `timeout`)."""
        if not self._thread.is_alive():
            return
        future = self.submit(self._close_all())
        try:
            future.result(timeout=timeout)
        except (concurrent.futures.TimeoutError, Exception) as exc:
            log.warning("tool host did not stop cleanly: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout)
        if self._local is not None:
            self._local.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the host loop from any thread and return its future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # -- the narrow interface --------------------------------------------------------------

    def snapshot(self) -> dict[str, list[ToolSpec]]:
        """Return the tools known right now (live or cached), without waiting; any thread."""
        return {name: list(specs.values()) for name, specs in self._specs.items()}

    def spec(self, name: str) -> ToolSpec | None:
        """The catalog entry of `source.tool` right now (any thread), or None."""
        source, _, tool = name.partition(".")
        return self._specs.get(source, {}).get(tool)

    def registry_version(self, name: str) -> int | None:
        """The current version number of registry tool `name`, or None."""
        found = self._local.current(name) if self._local is not None else None
        return found.version if found is not None else None

    async def catalog(self) -> dict[str, list[ToolSpec]]:
        """Return every server's tools: live when connected, else from the catalog cache."""
        return self.snapshot()

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        version: int | None = None,
        relay: ClientRelay | None = None,
        on_output: Callable[[str], None] | None = None,
        on_log: Callable[[str, int, str], None] | None = None,
    ) -> ToolResult:
        """Call a tool by its qualified name (`server.tool`, the tool's original name).

        Returns the result even when the tool reports an error (`is_error`); the
        caller decides whether that raises.

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

        Raises:
            ToolNotFound: No configured server or registry namespace offers that tool,
                or it has no such version.
            ToolInputError: The arguments do not match the input schema (nothing sent).
            ServerUnavailable: The server could not be reached, or died during the call.
            ToolCancelled: The server reported the request as cancelled or timed out.
            SandboxError: The sandbox stopped a registry tool (a limit, a trap).
        """
        if self._local is not None and name.partition(".")[0] in self._local.namespaces:
            hooks = CallHooks(relay, on_progress, on_output, _both(self._on_log, on_log))
            return await self._local.call(name, dict(arguments or {}), version=version, hooks=hooks)
        if version is not None:
            msg = f"{name} is an MCP tool; only registry tools have versions to pin"
            raise ToolNotFound(msg, tool=name, version=version)
        from mcp.shared.exceptions import MCPError  # noqa: PLC0415 - imported on this thread

        connection, tool = self._resolve(name)
        args = dict(arguments or {})
        try:
            session = await connection.ensure_connected()
        except ConnectFailed as exc:
            raise ServerUnavailable(str(exc), tool=name, server=connection.name) from exc
        finally:
            self._publish_status(connection)
        spec = self._specs.get(connection.name, {}).get(tool)
        if spec is None:
            raise self._not_found(name, connection.name)
        validate_arguments(spec, self._validator(spec), args)
        progress = _progress_adapter(on_progress) if on_progress is not None else None
        try:
            with connection.relaying(relay):
                result = await session.call_tool(tool, args, progress_callback=progress)
        except MCPError as exc:
            raise self._call_failed(name, connection, exc) from exc
        except RuntimeError as exc:
            # The SDK raises RuntimeError when structured output breaks the outputSchema.
            msg = f"{name}: the server's result is invalid: {exc}"
            raise ToolError(msg, tool=name) from exc
        return result_from_mcp(name, result)

    def refresh_local(self) -> list[str]:
        """Re-read the registry's tools now and tell listeners which namespaces changed.

        Call it from any thread after writing to the registry (a new version, a
        rollback, a delete); when it returns, listeners have seen the change.

        Returns:
            The namespaces whose tools changed.
        """
        if self._local is None:
            return []
        with self._local_lock:
            catalogs = self._local.load(self._servers)
            changed = [ns for ns, specs in catalogs.items() if self._changed(ns, specs)]
            for namespace in changed:
                self._remember(namespace, catalogs[namespace])
        for namespace in changed:
            self._notify(namespace, catalogs[namespace])
        return changed

    @property
    def local_namespaces(self) -> frozenset[str]:
        """The registry namespaces (`local`, ...) whose tools this host serves."""
        return self._local.namespaces if self._local is not None else frozenset()

    def subscribe(self, on_change: CatalogListener) -> Callable[[], None]:
        """Call `on_change(source, specs)` (in the host thread) whenever a catalog changes.

        Returns a function that unsubscribes.
        """
        with self._listeners_lock:
            self._listeners.append(on_change)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if on_change in self._listeners:
                    self._listeners.remove(on_change)

        return unsubscribe

    # -- status ----------------------------------------------------------------------------

    def statuses(self) -> list[ServerStatus]:
        """Return each configured server's state (safe from any thread)."""
        statuses = []
        for name, config in self._servers.items():
            conn = self._connections.get(name)
            if conn is not None:
                state, detail = conn.state, conn.detail
            elif isinstance(config, InvalidServer):
                state, detail = "failed", config.reason
            else:
                state, detail = "connecting", None
            count = len(self._specs[name]) if name in self._specs else None
            statuses.append(ServerStatus(name, state, detail, count))
        return statuses

    async def wait_settled(self, timeout: float, names: Collection[str] | None = None) -> bool:
        """Wait until each server (or each of `names`) has made its first connection attempt.

        Returns False if `timeout` passed first.
        """
        self._build_connections()
        chosen = [c for n, c in self._connections.items() if names is None or n in names]
        try:
            async with asyncio.timeout(timeout):
                for conn in chosen:
                    await conn.first_attempt_done.wait()
        except TimeoutError:
            return False
        return True

    # -- internals -------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    def _build_connections(self) -> None:
        if self._connections or not self._servers:
            return
        from toolkernel.host._connection import ServerConnection  # noqa: PLC0415 - see __init__

        self._connections = {
            name: ServerConnection(
                config,
                connect_timeout=self.connect_timeout,
                logs_dir=self._logs_dir,
                on_tools=self._tools_arrived,
                on_log=self._on_log,
            )
            for name, config in self._servers.items()
        }

    async def _watch_registry(self) -> None:
        """Follow registry tool changes other processes make (polled, cheap)."""
        registry = self._registry
        if registry is None or self._local is None:
            return
        seen = registry.change_count()
        while True:
            await asyncio.sleep(REGISTRY_POLL_S)
            try:
                now = registry.change_count()
                if now != seen:
                    seen = now
                    await asyncio.to_thread(self.refresh_local)
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

    async def _nested_call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        return await self.call(name, arguments)

    async def _resources(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._build_connections()
        return await serve_resources(self._connections, method, params)

    async def _close_all(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._local is not None:
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
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT  # noqa: PLC0415 - see __init__

        if exc.code == CONNECTION_CLOSED:
            tail = conn.stderr_tail()
            stderr = f" (stderr: {tail})" if tail else ""
            reason = f"server {conn.name!r} disconnected during the call to {name}{stderr}"
            conn.mark_disconnected(reason + "; it reconnects on the next call")
            self._publish_status(conn)
            msg = f"{reason}. It is restarted on the next call; retry if the tool is safe to."
            return ServerUnavailable(msg, tool=name, server=conn.name)
        if exc.code == REQUEST_TIMEOUT:
            return ToolCancelled(f"{name} timed out: {exc.error.message}", tool=name)
        return ToolError(f"{name}: {exc.error.message}", tool=name)

    def _tools_arrived(self, source: str, specs: list[ToolSpec]) -> None:
        digest = catalog_hash(specs)
        changed = self._known_hashes.get(source) != digest
        self._remember(source, specs, digest)
        if self._registry is not None:
            try:
                self._registry.save_catalog(source, specs)
            except Exception:
                log.exception("could not cache the catalog of %r", source)
        if changed:
            self._notify(source, specs)

    def _changed(self, source: str, specs: list[ToolSpec]) -> bool:
        return self._known_hashes.get(source) != catalog_hash(specs)

    def _notify(self, source: str, specs: list[ToolSpec]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(source, specs)
            except Exception:
                log.exception("catalog listener failed for %r", source)

    def _validator(self, spec: ToolSpec) -> Any:
        key = spec.qualified_name
        if key not in self._validators:
            self._validators[key] = compile_validator(spec.input_schema)
        return self._validators[key]

    def _remember(self, source: str, specs: list[ToolSpec], digest: str | None = None) -> None:
        prefix = source + "."
        for key in [k for k in self._validators if k.startswith(prefix)]:
            del self._validators[key]
        self._specs[source] = {spec.name: spec for spec in specs}
        self._known_hashes[source] = digest or catalog_hash(specs)

    def _publish_status(self, conn: ServerConnection) -> None:
        if self._registry is None:
            return
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


def _progress_adapter(on_progress: ProgressCallback) -> Any:
    async def forward(progress: float, total: float | None, message: str | None) -> None:
        on_progress(progress, total, message)

    return forward


def _both(
    first: Callable[[str, int, str], None], second: Callable[[str, int, str], None] | None
) -> Callable[[str, int, str], None]:
    if second is None:
        return first

    def both(tool: str, level: int, text: str) -> None:
        first(tool, level, text)
        second(tool, level, text)

    return both


def _log_to_logging(server: str, level: int, text: str) -> None:
    logging.getLogger(f"toolkernel.server.{server}").log(level, "%s", text)
