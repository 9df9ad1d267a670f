"""The Toolbox: what a Toolkernel kernel preloads, wired together.

It owns the registry, the tool host and the `tools` namespace, and installs the
bindings' caller, which sends every call through `ToolHost.call`. It does not depend
on ipykernel, so the bridge and tests can use it in any process.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from traitlets import Any as TraitAny
from traitlets import Float, Int, List, Type, Unicode, default
from traitlets import Instance as TraitInstance
from traitlets.config import Configurable

from toolkernel._spec import ToolResult, ToolSpec, catalog_hash
from toolkernel.bindings import (
    BindingCache,
    ToolResource,
    ToolResourceLink,
    ToolsNamespace,
    resources_to_python,
    set_caller,
    set_resource_reader,
    to_python,
)
from toolkernel.config import CONFIG_ENV_VAR, McpConfig, ServerConfig, load_config
from toolkernel.errors import ConfigError, RegistryError, ToolkernelError, ToolNotFound
from toolkernel.factory import SKILL_NAMESPACE, RegistryChanges, ToolChanges, ToolFactory
from toolkernel.host import SOCKET_ENV_VAR, ServerStatus, ToolHost, ToolPolicy
from toolkernel.registry import HISTORY_KEEP, ToolRegistry
from toolkernel.session._calls import (
    CallNote,
    CallRecorder,
    Execution,
    current_execution,
    execution,
)
from toolkernel.session._discovery import Discovery, ToolDetails, server_notes
from toolkernel.session._frontend import CallObservers
from toolkernel.session._lifecycle import ToolLifecycle
from toolkernel.session._lock import ToolLock, notebook_path, read_lock, schema_hash
from toolkernel.session._memory import Memory
from toolkernel.session._reload import ToolFolderWatcher
from toolkernel.session._servers import ConfigFollower, ServerChanges
from toolkernel.session._skills import SkillLibrary
from toolkernel.session._sync import run_blocking

__all__ = ["Toolbox"]

log = logging.getLogger("toolkernel.kernel")
_UNOBSERVED = CallObservers()
_SOURCE_REFERENCE = re.compile(r"\btools\s*\.\s*([A-Za-z_]\w*)")


class Toolbox(ToolLifecycle, ServerChanges, Configurable):
    """Registry, host, bindings and discovery for one kernel (or bridge) process.

    A traitlets `Configurable`: its options are traits (settable as `c.Toolbox.<name>`
    by a parent's config, or as keyword arguments), and its parts are composed through
    `Type` traits, as ipykernel composes its own, so another registry, tool host or
    factory (an out-of-process host, say) is a matter of configuration:
    `host_class` must take `ToolHost`'s constructor arguments and offer its interface
    (`call`, `catalog`, `subscribe`, `statuses`, `start`, `stop`). A host that serves
    the registry itself (`RemoteToolHost`) also offers `registry_changes()`: tool
    changes and the call history then go to it, and this process records no calls.

    Building one opens the registry and builds bindings from the catalog cache; no
    server is waited for. `start()` installs `tools` and connects servers.
    """

    home = TraitInstance(Path, help="The toolkernel home: registry, binding cache, logs.")
    config_path = TraitInstance(
        Path, allow_none=True, help="An explicit mcp.json; None: it is looked up."
    )
    connect_timeout = Float(
        30.0, help="Seconds each server gets to answer initialize; the longest a cell waits."
    ).tag(config=True)
    discovery_wait = Float(
        5.0,
        help=(
            "Seconds discovery waits, once per server, for a server that has no cached "
            "catalog to connect for the first time; a slower one is named as connecting."
        ),
    ).tag(config=True)
    toolchain_path = Unicode(
        None, allow_none=True, help="Where create_tool looks for compilers (PATH style)."
    ).tag(config=True)
    crate_registry = Unicode(
        "crates.io",
        help=(
            "Where Rust builds fetch crates: crates.io, a registry index URL, or an "
            "absolute folder (a local or vendored registry); 'off': Debian's vendored "
            "crates only."
        ),
    ).tag(config=True)
    sandbox_backend = Unicode(
        None,
        allow_none=True,
        help="The process sandbox of script tools and compilers; None: the best available.",
    ).tag(config=True)
    tool_folders = List(
        TraitInstance(Path), help="Tool folders (or folders of them) to register and hot-reload."
    )
    max_tool_calls = Int(
        0,
        help=(
            "The most tool calls one cell execution may make (calls from tasks it starts "
            "included); one more raises ToolCallLimit. 0: no cap. The bridge's cells may "
            "set their own (toolkernel mcp --max-tool-calls)."
        ),
    ).tag(config=True)
    call_history_size = Int(
        HISTORY_KEEP,
        help=(
            "How many of the newest tool calls the registry's call history keeps (shared "
            "by every process on this home); 0: this process records none."
        ),
    ).tag(config=True)
    front_end = TraitAny(
        None, allow_none=True, help="A FrontEnd: makes each call's observers; None: none."
    )
    on_log = TraitAny(
        None, allow_none=True, help="Receives server log messages (server, level, text)."
    )
    registry_class = Type(
        "toolkernel.registry.ToolRegistry", klass=object, help="The registry to open."
    ).tag(config=True)
    host_class = Type(
        "toolkernel.host.ToolHost",
        klass=object,
        help=(
            "The tool host (ToolHost's interface). toolkernel.host.RemoteToolHost reaches "
            "a `toolkernel host` process at $TOOLKERNEL_HOST_SOCKET instead; it is the "
            "default in a sandboxed kernel ($TOOLKERNEL_SANDBOXED) given that socket."
        ),
    ).tag(config=True)
    factory_class = Type(
        "toolkernel.factory.ToolFactory", klass=object, help="What create_tool builds with."
    ).tag(config=True)

    @default("host_class")
    def _default_host_class(self) -> str:
        """The remote host in a sandboxed kernel given a host's socket, else in process.

        The sandboxed kernel's own home is a throwaway: its tools and registry are the
        host's, outside the sandbox.
        """
        if os.environ.get("TOOLKERNEL_SANDBOXED") == "1" and os.environ.get(SOCKET_ENV_VAR):
            return "toolkernel.host.RemoteToolHost"
        return "toolkernel.host.ToolHost"

    def __init__(self, **kwargs: Any) -> None:
        """Take the traits above as keywords (`home` is required), then build the parts."""
        if kwargs.get("home") is None:
            msg = "Toolbox needs a home (the directory of its registry): Toolbox(home=Path(...))"
            raise ValueError(msg)
        super().__init__(**kwargs)
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._waiters_lock = threading.Lock()
        self.config_error: str | None = None
        self.config_looked_in: list[str] = []
        """Where mcp.json was looked for, when none was found."""
        self._first_waited: set[str] = set()
        self._cwd = Path.cwd()
        self._servers_lock = threading.RLock()
        self._added: dict[str, ServerConfig] = {}
        self._removed: set[str] = set()
        self._host_reads_config = bool(getattr(self.host_class, "reads_own_config", False))
        self.server_config: McpConfig = (
            McpConfig(servers={})
            if self._host_reads_config
            else self._read_mcp_json(home, self.config_path)
        )
        """The servers of mcp.json (none, and `config_error` says why, if it is unusable).

        None either when the host reads its own (a `RemoteToolHost`'s, outside the
        sandbox): `server_names()` then asks the host."""
        self._file_servers = dict(self.server_config.servers)
        self.registry_error: str | None = None
        self.registry: ToolRegistry = self._open_registry(home)
        self._specs: dict[str, dict[str, ToolSpec]] = {}
        self.policy = ToolPolicy(parent=self)
        """The tool policy (`c.ToolPolicy`) the host applies to every call."""
        self.host: ToolHost = cast("type[ToolHost]", self.host_class)(
            self.server_config.servers,
            registry=self.registry,
            logs_dir=home / "logs",
            connect_timeout=self.connect_timeout,
            on_log=self.on_log,
            sandbox_backend=self.sandbox_backend,
            policy=self.policy,
        )
        self.factory: ToolFactory = cast("type[ToolFactory]", self.factory_class)(
            self.registry,
            self._tool_names,
            reserved=self.server_config.servers,
            cache_dir=home / "cache",
            author=_user_name(),
            toolchain_path=self.toolchain_path,
            sandbox_backend=self.sandbox_backend,
            crate_registry=self.crate_registry,
        )
        self.changes, self._mirror_catalogs = self._registry_access()
        """Registry changes and reads: here, or the tool host's when it serves them."""
        keep = 0 if self._mirror_catalogs else self.call_history_size
        self.history = CallRecorder(self.registry, keep=keep)
        """Writes each call through `call_result` to the registry's call history (a
        host that serves the registry records the calls it serves itself)."""
        self.namespace = ToolsNamespace(BindingCache(home / "bindings"), explain=self._unloaded)
        self.host.subscribe(self._set_source)  # the cached catalogs now, later each change
        self.lock = ToolLock()
        """What this session called (for `%tools lock`) and the versions it is pinned to."""
        locked = notebook_path()
        if locked is not None:
            self.lock.load(read_lock(locked) or {})
        self.skill_scope: dict[str, Any] = {}
        """The globals a Python skill's module starts with: the preloads."""
        self.skills = SkillLibrary(
            self._skill_source(),
            scope=lambda: dict(self.skill_scope),
            pins=self.lock.pins,
            record=lambda name, version: self.lock.record(name, {"version": version}),
        )
        """The `skills` module: `from skills import summarize`."""
        self.discovery = Discovery(
            self.registry,
            self.namespace,
            self._sources,
            self.skills,
            notes=lambda: run_blocking(self.discovery_notes()),
        )
        self.watcher = (
            ToolFolderWatcher(
                self.factory,
                self.registry,
                list(self.tool_folders),
                prepare=lambda found: self._wait_for_step_servers(found.kwargs.get("steps")),
            )
            if self.tool_folders
            else None
        )
        """Hot reload of `tool_folders`, when there are any."""
        self.follower = ConfigFollower(self._config_files, self.reload_servers)
        """Follows edits to mcp.json (and approvals of it) while the kernel runs."""

    def start(self) -> None:
        """Install `tools` and the caller, and start connecting servers in the background."""
        self.namespace.install()
        sys.modules[SKILL_NAMESPACE] = self.skills
        set_caller(self.call)
        set_resource_reader(self.host.read_resource)
        self.host.start()
        if not self._host_reads_config:  # a remote host's mcp.json is its own business
            self.follower.start()
        if self.watcher is not None:
            self.watcher.start()

    def stop(self) -> None:
        """Disconnect every server and release the registry."""
        set_caller(None)
        set_resource_reader(None)
        self.follower.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if sys.modules.get(SKILL_NAMESPACE) is self.skills:
            del sys.modules[SKILL_NAMESPACE]
        self.host.stop()
        self.history.close()
        self.registry.close()
        if self.registry_error is not None:  # the scratch registry is ours alone
            shutil.rmtree(self.registry.home, ignore_errors=True)

    async def call(
        self, source: str, name: str, arguments: dict[str, Any], *, version: int | None = None
    ) -> Any:
        """Call a tool through the host and return its Python value (the bindings' caller).

        Cancelling the awaiting task cancels the call on the server. `version` pins a
        registry tool to an old version.
        """
        result = await self.call_result(f"{source}.{name}", arguments, version=version)
        return to_python(result, source=source)

    async def call_result(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        version: int | None = None,
        observers: CallObservers | None = None,
    ) -> ToolResult:
        """The one call path of every front door: a cell, the bridge, the panel.

        It counts the call against the running cell's cap (`execution`), applies the
        `%tools lock` pins (`version` overrides), records the use for the lock, gives the
        call its observers (`observers`, else the front end's for `name`, qualified as
        `server.tool`), and records it in the call history. Returns the tool's raw result.

        Raises:
            ToolCallLimit: The running cell already made its `max_tool_calls` calls.
            ToolkernelError: The call failed before the tool answered (unknown tool, bad
                arguments, server down), or the tool raised.
        """
        cell = current_execution()
        record = CallNote(name, arguments, cell)
        try:
            if cell is not None:
                cell.admit(name)
            if version is None:
                version = self.lock.pins.get(name)
            self._record_use(name, version)
            if observers is None:
                observers = self.front_end.observers(name) if self.front_end else _UNOBSERVED
            result = await self.host.call(
                name,
                arguments,
                on_progress=observers.on_progress,
                relay=observers.relay,
                version=version,
                on_output=observers.on_output,
                on_log=observers.on_log,
                execution=cell.id if cell is not None else None,
            )
        except BaseException as exc:
            self.history.add(record.failed(exc))
            raise
        self.history.add(record.answered(result))
        return result

    @contextmanager
    def execution(
        self, count: int | None, max_tool_calls: int | None = None
    ) -> Iterator[Execution]:
        """Run one cell inside this block: its calls are capped and recorded with `count`.

        Args:
            count: The cell's execution count.
            max_tool_calls: The cell's cap; None: `max_tool_calls` (the trait), 0: none.
        """
        cap = self.max_tool_calls if max_tool_calls is None else max_tool_calls
        with execution(count, cap) as scope:
            yield scope

    def call_history(self, limit: int = 20, *, tool: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` tool calls on this home (of `tool` only, if given), newest first.

        Each is a dict: `tool`, `arguments_bytes`, `duration_s`, `outcome` (`ok`,
        `error`, `failed`, `cancelled`, or `refused` by a cap or the tool policy),
        `started_at` (Unix time), `error`, `execution_count` (the calling cell's), `pid`
        (the calling process: kernels, bridges and the panel share the history of their
        home) and `approval` (what the tool policy decided, when it asked or refused:
        `allowed:person`, `remembered:client`, `denied:timeout`, ...; else None), and
        `session` (`host <socket>` when a `toolkernel host` served and recorded the call,
        the sandboxed kernel's case; else None). A sandboxed kernel reads its host's
        history, in the real home.

        Raises:
            RegistryError: `limit` is not between 1 and 10,000.
        """
        self.history.flush()
        return [call.to_json() for call in self.changes.history(limit, tool=tool)]

    def preloads(self) -> dict[str, Any]:
        """Return the names a kernel puts into the user namespace (skills see them too)."""
        self.skill_scope = {
            "tools": self.namespace,
            "list_tool_names": self.discovery.list_tool_names,
            "search_tools": self.discovery.search_tools,
            "get_tool_details": self.get_tool_details,
            "wait_for_servers": self.wait_for_servers,
            "list_resources": self.list_resources,
            "read_resource": self.read_resource,
            "add_server": self.add_server,
            "remove_server": self.remove_server,
            "create_tool": self.create_tool,
            "tool_versions": self.tool_versions,
            "diff_tool": self.diff_tool,
            "rollback_tool": self.rollback_tool,
            "delete_tool": self.delete_tool,
            "restore_tool": self.restore_tool,
            "memory": Memory(self.registry),
            "skills": self.skills,
            "save_skill": self.save_skill,
            "load_skill": self.load_skill,
            "export_tools": self.export_tools,
            "import_tools": self.import_tools,
            "call_history": self.call_history,
        }
        return dict(self.skill_scope)

    async def list_resources(self, server: str | None = None) -> list[dict[str, Any]]:
        """List the resources of `server` (its configured name), or of every connected one.

        Each is a dict with `uri`, `name`, `server` and, when given, `mimeType`,
        `description`, `size`; read one with `await read_resource(r["uri"],
        server=r["server"])`.

        Raises:
            ToolNotFound: No server has that name.
            ServerUnavailable: That server could not be reached.
        """
        return await self.host.list_resources(server)

    async def read_resource(
        self, resource: str | ToolResourceLink, *, server: str | None = None
    ) -> ToolResource | list[ToolResource]:
        """Read a resource: a URI, or a `ToolResourceLink` a tool returned.

        Args:
            resource: The URI, or a link (read from the server that returned it).
            server: The server to ask (its configured name); default: the link's
                server, else the first connected server that can read the URI.

        Returns:
            A `ToolResource` (`.text` or `.blob`), or a list when there are several.

        Raises:
            ToolError: No server could read it (the message says why).
        """
        if isinstance(resource, ToolResourceLink):
            uri, server = resource.uri, server or resource.server
        else:
            uri = str(resource)
        return resources_to_python(await self.host.read_resource(uri, server=server))

    def get_tool_details(self, name: str) -> ToolDetails:
        """Describe one tool: its binding's signature, docstring and schemas."""
        return self.discovery.get_tool_details(name)

    async def wait_for_servers(self, timeout: float = 30.0) -> list[ServerStatus]:
        """Wait (at most `timeout` s) until every server has connected or failed."""
        return await self.host.statuses(settle=timeout)

    async def discovery_notes(self) -> list[str]:
        """Say what a discovery answer may miss, after a short wait for new servers.

        A server with no cached catalog that is making its first connection is waited
        for (at most `discovery_wait` s, once per server): a brand-new home then lists
        its tools. A server with a cache, or one that failed, is never waited for.

        Returns:
            Notes naming servers still connecting, servers that failed and why, and
            (with no mcp.json) where it was looked for.
        """
        await self._hear_host_servers()
        pending = [
            name
            for name in self.server_names()
            if name not in self._specs and name not in self._first_waited
        ]
        if pending:
            self._first_waited.update(pending)
            await self.host.statuses(pending, settle=self.discovery_wait)
        notes = server_notes(await self.host.statuses())
        if self.config_error is not None:
            notes.insert(0, f"mcp.json: {self.config_error.split(chr(10), 1)[0]}")
        elif self.config_looked_in:
            notes.insert(0, self._no_config_note())
        return notes

    def _no_config_note(self) -> str:
        return (
            "no mcp.json was found, so no MCP server is configured; looked in "
            f"{', '.join(self.config_looked_in)}. Create one with "
            '{"mcpServers": {"name": {"command": ..., "args": [...]}}}'
        )

    async def wait_for_sources_used_by(self, code: str) -> None:
        """Before a cell runs, wait for servers it names that are making a first connection.

        A server with a cached catalog already has bindings and is never waited for, and
        the wait is bounded by the host's connect timeout.
        """
        used = set(_SOURCE_REFERENCE.findall(code))
        if not used:
            return
        await self._hear_host_servers()
        loaded = set(self.namespace.sources())
        pending = [
            name
            for name in self.server_names()
            if name not in loaded and self.namespace.python_source(name) in used
        ]
        if pending:
            await self.host.statuses(pending, settle=self.connect_timeout)

    async def wait_for_tool(self, name: str, timeout: float = 30.0) -> None:
        """Wait until `server.tool` has a binding (after a `tools/list_changed`, say).

        Raises:
            TimeoutError: The tool did not appear within `timeout` seconds.
        """
        source, _, tool = name.partition(".")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not self._has_binding(source, tool):
                event = asyncio.Event()
                with self._waiters_lock:
                    self._waiters.append((loop, event))
                if not self._has_binding(source, tool):
                    await event.wait()

    async def catalog_json(self) -> dict[str, Any]:
        """Every tool (MCP servers' and the registry's) as JSON, with a changing digest."""
        catalog = await self.host.catalog()
        specs = [spec for _, tools in sorted(catalog.items()) for spec in tools]
        return {"digest": catalog_hash(specs), "tools": [spec.to_json() for spec in specs]}

    async def call_json(
        self, name: str, arguments: dict[str, Any], *, observers: CallObservers | None = None
    ) -> dict[str, Any]:
        """`call_result` as JSON: `{"content", "structured", "is_error"}`.

        Failures before the tool answers (unknown tool, bad arguments, server down)
        come back as error results with our message, so a caller over JSON sees them.
        """
        try:
            result = await self.call_result(name, arguments, observers=observers)
        except ToolkernelError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        return {
            "content": result.content,
            "structured": result.structured,
            "is_error": result.is_error,
        }

    def server_names(self) -> list[str]:
        """The MCP servers the tool host runs.

        The host's own list when it reads its own mcp.json (a `RemoteToolHost`), else
        this process's mcp.json's (with the servers added since).
        """
        if self._host_reads_config:
            return cast("list[str]", self.host.server_names())  # type: ignore[attr-defined]
        return list(self.server_config.servers)

    async def _hear_host_servers(self) -> None:
        """Ask a host that reads its own mcp.json, until it first answered: its servers.

        Only its answer names them here; the wait is bounded by its connect timeout.
        """
        if self._host_reads_config and not self.server_names():
            await self.host.statuses()

    def statuses(self) -> list[ServerStatus]:
        """Return each configured server's connection state (from synchronous code)."""
        return run_blocking(self.host.statuses())

    def _set_source(self, source: str, specs: list[ToolSpec]) -> None:
        self._specs = {**self._specs, source: {spec.name: spec for spec in specs}}
        if self._mirror_catalogs:
            try:
                self.registry.save_catalog(source, specs)
            except ToolkernelError:
                log.exception("could not index the tools of %r for search", source)
        try:
            self.namespace.set_source(source, specs)
        except Exception:
            log.exception("could not build bindings for %r; its old bindings stay", source)
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _unloaded(self, attr: str) -> str | None:
        """Why `tools.<attr>` has no bindings, when it names a server that failed or waits."""
        servers = self.server_names()
        server = next((s for s in servers if attr in (s, self.namespace.python_source(s))), None)
        if server is None and not servers and self._host_reads_config:
            failed = [s for s in run_blocking(self.host.statuses()) if s.state == "failed"]
            return f"the tool host failed: {failed[0].detail}" if failed else None
        statuses = run_blocking(self.host.statuses([server])) if server is not None else []
        if not statuses or statuses[0].state == "connected":
            return None
        if statuses[0].state == "connecting":
            return (
                f"its server {server!r} is still connecting; `await wait_for_servers()` "
                "waits for it (at most its connect timeout), and %tools shows its state"
            )
        return f"its server failed to connect. {statuses[0].detail or ''}".strip()

    def _record_use(self, name: str, version: int | None) -> None:
        """Note what a call used, for `%tools lock`; warn if a locked schema drifted."""
        source, _, tool = name.partition(".")
        spec = self._specs.get(source, {}).get(tool)
        if source in self._specs and source not in self.server_names():  # a registry tool
            if version is None and spec is not None:
                version = self._current_version(name)
            if version is not None:
                self.lock.record(name, {"version": version})
        elif spec is not None:
            self.lock.check_drift(spec)
            self.lock.record(name, {"schema": schema_hash(spec)})

    def _current_version(self, name: str) -> int | None:
        try:
            return self.registry.tool_version(name).version
        except ToolNotFound:
            return None

    def _registry_namespaces(self) -> set[str]:
        """The registry namespaces the host serves (`local`, ...): its other sources."""
        return set(self._specs) - set(self.server_names())

    def _tool_names(self) -> set[str]:
        """The qualified name of every tool the host serves now."""
        return {spec.qualified_name for tools in self._specs.values() for spec in tools.values()}

    def _sources(self) -> list[str]:
        """Configured servers, then registry namespaces (the tools discovery covers)."""
        servers = self.server_names()
        local = self._registry_namespaces()
        if SKILL_NAMESPACE in self.registry.namespaces():
            local.add(SKILL_NAMESPACE)
        return servers + sorted(ns for ns in local if ns not in servers)

    def _has_binding(self, source: str, tool: str) -> bool:
        if source not in self.namespace.sources():
            return False
        try:
            self.namespace.python_name(source, tool)
        except ToolNotFound:
            return False
        return True

    def _registry_access(self) -> tuple[RegistryChanges, bool]:
        """Where registry changes go, and whether this process's registry is only a mirror.

        A host that serves the registry (`registry_changes()`, a sandboxed kernel's
        `RemoteToolHost`) takes every change and records the calls; this process's own
        registry then only mirrors each source's tools, so its search index serves
        discovery.
        """
        served = getattr(self.host, "registry_changes", None)
        if served is None:
            return ToolChanges(self.factory, self.registry), False
        changes: RegistryChanges = served()
        return changes, True

    def _skill_source(self) -> ToolRegistry:
        """Where skills are read: this process's registry, or the host's when it serves it.

        `SkillLibrary` reads only `tool_version`, `get_blob` and `registry_tools`, which
        the host's `RemoteToolChanges` offers too.
        """
        if self._mirror_catalogs:
            return cast("ToolRegistry", self.changes)
        return self.registry

    def _open_registry(self, home: Path) -> ToolRegistry:
        """The home's registry; if it cannot be opened, a scratch one, and say why.

        A broken `registry.db` must not kill the kernel: MCP tools keep working from a
        scratch registry, registry tools are unavailable, and `%tools` says how to recover.
        """
        make = cast("type[ToolRegistry]", self.registry_class)
        try:
            return make(home)
        except RegistryError as exc:
            path = home / "registry.db"
            self.registry_error = (
                f"{exc}. The kernel runs without it: MCP tools work, the tools you created "
                f"are unavailable and nothing new is saved. To recover, move it aside "
                f"(mv {path} {path}.broken) or restore a backup, then restart the kernel"
            )
            log.error("%s", self.registry_error)
            scratch = Path(tempfile.mkdtemp(prefix="toolkernel-scratch-"))
            return make(scratch)

    def _read_mcp_json(self, home: Path, config_path: Path | None) -> McpConfig:
        """The servers to start; a folder mcp.json no person approved is only reported.

        Its refusal shows in `%tools` (as `config_error`) with how to approve it.
        """
        try:
            if config_path is not None:
                return load_config(home, explicit=config_path)
            config = load_config(home, self._cwd)
        except ConfigError as exc:
            self.config_error = str(exc)
            log.error("%s", exc)
            return McpConfig(servers={})
        if config.untrusted is not None:
            self.config_error = str(config.untrusted)
            log.warning("%s", config.untrusted)
        elif config.path is None:
            self.config_looked_in = [
                f"${CONFIG_ENV_VAR} (unset)",
                str(self._cwd / "mcp.json"),
                str(home / "mcp.json"),
            ]
        return config


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
