"""The Toolbox: what a Toolkernel kernel preloads, wired together.

It owns the registry, the tool host and the `tools` namespace, and installs the
bindings' caller, which sends every call through `ToolHost.call`. It does not depend
on ipykernel, so the bridge and tests can use it in any process.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toolkernel._spec import catalog_hash
from toolkernel.bindings import BindingCache, ToolsNamespace, set_caller, to_python
from toolkernel.config import McpConfig, load_config
from toolkernel.errors import ConfigError, ToolkernelError, ToolNotFound
from toolkernel.factory import SKILL_NAMESPACE, ToolFactory
from toolkernel.host import ClientRelay, ServerStatus, ToolHost
from toolkernel.kernel._discovery import Discovery, ToolDetails
from toolkernel.kernel._lock import ToolLock, notebook_path, read_lock, schema_hash
from toolkernel.kernel._memory import Memory
from toolkernel.kernel._progress import CellOutput, ProgressLine
from toolkernel.kernel._skills import (
    AgentSkill,
    PythonSkill,
    SkillLibrary,
    skill_entry,
    skill_source,
)
from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = ["Toolbox"]

log = logging.getLogger("toolkernel.kernel")
_SOURCE_REFERENCE = re.compile(r"\btools\s*\.\s*([A-Za-z_]\w*)")


class Toolbox:
    """Registry, host, bindings and discovery for one kernel (or bridge) process."""

    def __init__(
        self,
        *,
        home: Path,
        config_path: Path | None = None,
        connect_timeout: float = 30.0,
        show_progress: bool = False,
        on_log: Callable[[str, int, str], None] | None = None,
        toolchain_path: str | None = None,
        sandbox_backend: str | None = None,
    ) -> None:
        """Open the registry and build bindings from the catalog cache (no server waits).

        Args:
            home: The toolkernel home (registry, binding cache, server logs).
            config_path: An explicit mcp.json; by default it is looked up.
            connect_timeout: Seconds each server gets to answer `initialize`.
            show_progress: Show a live progress line in the calling cell.
            on_log: Receives server log messages (server, level, text).
            toolchain_path: Where `create_tool` looks for compilers (`PATH` style).
            sandbox_backend: The process sandbox of script tools (default: the best).
        """
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._waiters_lock = threading.Lock()
        self.config_error: str | None = None
        self.config = self._load_config(home, config_path)
        self.registry = ToolRegistry(home)
        self.host = ToolHost(
            self.config.servers,
            registry=self.registry,
            logs_dir=home / "logs",
            connect_timeout=connect_timeout,
            on_log=on_log,
            sandbox_backend=sandbox_backend,
        )
        self.factory = ToolFactory(
            self.registry,
            self.host,
            reserved=self.config.servers,
            cache_dir=home / "cache",
            author=_user_name(),
            toolchain_path=toolchain_path,
        )
        self.namespace = ToolsNamespace(BindingCache(home / "bindings"))
        for source, specs in self.host.snapshot().items():
            self._set_source(source, specs)
        self._show_progress = show_progress
        self.lock = ToolLock()
        """What this session called (for `%tools lock`) and the versions it is pinned to."""
        locked = notebook_path()
        if locked is not None:
            self.lock.load(read_lock(locked) or {})
        self.skill_scope: dict[str, Any] = {}
        """The globals a Python skill's module starts with: the preloads."""
        self.skills = SkillLibrary(
            self.registry,
            scope=lambda: dict(self.skill_scope),
            pins=self.lock.pins,
            record=lambda name, version: self.lock.record(name, {"version": version}),
        )
        """The `skills` module: `from skills import summarize`."""
        self.discovery = Discovery(self.registry, self.namespace, self._sources, self.skills)
        self.logs_to_cell: Callable[[], bool] = lambda: False
        """Called in the calling cell: should a script tool's log messages appear in it
        (the kernel says yes for cells the MCP bridge runs, so they become MCP logs)?"""
        self.relay_factory: Callable[[], ClientRelay] | None = None
        """Called in the calling cell to get who answers servers' sampling/elicitation."""
        self.host.subscribe(self._set_source)

    def start(self) -> None:
        """Install `tools` and the caller, and start connecting servers in the background."""
        self.namespace.install()
        sys.modules[SKILL_NAMESPACE] = self.skills
        set_caller(self.call)
        self.host.start()

    def stop(self) -> None:
        """Disconnect every server and release the registry."""
        set_caller(None)
        if sys.modules.get(SKILL_NAMESPACE) is self.skills:
            del sys.modules[SKILL_NAMESPACE]
        self.host.stop()
        self.registry.close()

    async def call(
        self, source: str, name: str, arguments: dict[str, Any], *, version: int | None = None
    ) -> Any:
        """Call a tool through the host and return its Python value (the bindings' caller).

        Cancelling the awaiting task cancels the call on the server. `version` pins a
        registry tool to an old version.
        """
        qualified = f"{source}.{name}"
        if version is None:
            version = self.lock.pins.get(qualified)
        self._record_use(qualified, version)
        progress = ProgressLine(qualified).report if self._show_progress else None
        relay = self.relay_factory() if self.relay_factory is not None else None
        output = CellOutput() if self._show_progress else None
        future = self.host.submit(
            self.host.call(
                qualified,
                arguments,
                on_progress=progress,
                relay=relay,
                version=version,
                on_output=output.write if output is not None else None,
                on_log=CellOutput(stream="stderr").log if self.logs_to_cell() else None,
            )
        )
        result = await asyncio.wrap_future(future)
        return to_python(result)

    def preloads(self) -> dict[str, Any]:
        """Return the names a kernel puts into the user namespace (skills see them too)."""
        self.skill_scope = {
            "tools": self.namespace,
            "list_tool_names": self.discovery.list_tool_names,
            "search_tools": self.discovery.search_tools,
            "get_tool_details": self.get_tool_details,
            "wait_for_servers": self.wait_for_servers,
            "create_tool": self.create_tool,
            "tool_versions": self.tool_versions,
            "diff_tool": self.diff_tool,
            "rollback_tool": self.rollback_tool,
            "memory": Memory(self.registry),
            "skills": self.skills,
            "save_skill": self.save_skill,
            "load_skill": self.load_skill,
        }
        return dict(self.skill_scope)

    def save_skill(
        self,
        function: Callable[..., Any] | str | None = None,
        /,
        *,
        name: str | None = None,
        description: str = "",
        note: str = "",
    ) -> Any:
        """Save an `async def` that composes tools as a skill: `from skills import name`.

        Use it as a call (`save_skill(summarize)`), a decorator (`@save_skill`, or
        `@save_skill(note="...")`), or with a cell's source text. The function must
        stand alone: modules it uses become imports, other notebook globals are refused.
        Each save is a new version, found by `search_tools`.

        Args:
            function: The `async def`, or the source text that defines it.
            name: The skill's name (default: the function's), under `skills.`.
            description: Overrides the docstring as the description.
            note: Why this version was made.

        Returns:
            The skill (`await skill(...)` runs it), or a decorator when `function` is
            omitted.

        Raises:
            RegistryError: Not an `async def`, unavailable source, a notebook global it
                depends on, or an invalid name.
        """
        if function is None:
            return lambda found: self.save_skill(
                found, name=name, description=description, note=note
            )
        if isinstance(function, str):
            source, entry = function, skill_entry(function, name)
        else:
            source, entry = skill_source(function, self.skill_scope), function.__name__
        created = self.factory.create(
            name or entry,
            kind="skill",
            language="python",
            source=source,
            entry=entry,
            description=description,
            note=note,
        )
        self.lock.pins.pop(created.name, None)
        return self.skills.load(created.name)

    def load_skill(self, name: str) -> PythonSkill | AgentSkill:
        """Return a skill: an Agent Skill's instructions and files, or a Python skill.

        `load_skill("pdf-processing").instructions` is the whole `SKILL.md`;
        `.read(path)` returns one of its files.

        Raises:
            ToolNotFound: No such skill; the message lists the skills there are.
        """
        return self.skills.load(name)

    def tool_versions(self, name: str) -> list[ToolVersion]:
        """Return every version of registry tool `name` (`local.fetch`), oldest first."""
        return self.registry.tool_versions(self.factory.qualify(name, reserved_ok=True))

    def diff_tool(self, name: str, a: int, b: int | None = None) -> DiffText:
        """Return a unified diff (sources, schemas, policy) of `name` from version `a` to `b`.

        `b` defaults to the current version.
        """
        qualified = self.factory.qualify(name, reserved_ok=True)
        return DiffText(self.registry.diff_tool(qualified, a, b))

    def rollback_tool(self, name: str, version: int, *, note: str | None = None) -> ToolVersion:
        """Make version `version` of `name` current again, as a new version; bindings follow.

        History is kept: the rollback is appended as a copy of the old version.
        """
        qualified = self.factory.qualify(name, reserved_ok=True)
        restored = self.registry.rollback_tool(
            qualified, version, note=note, author=self.factory.author
        )
        self.host.refresh_local()
        self.lock.pins.pop(qualified, None)
        return restored

    def create_tool(
        self,
        name: str | None,
        *,
        kind: str = "wasm",
        language: str = "",
        source: str | bytes | Mapping[str, str] = "",
        description: str = "",
        input_schema: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        limits: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        note: str = "",
        entry: str | None = None,
        command: Sequence[str] | None = None,
        requirements: Sequence[str] | None = None,
        packages: Sequence[str] | None = None,
        persistent: bool = False,
        secrets: Sequence[str] | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
        output: Any = None,
    ) -> ToolVersion:
        """Make a tool (from source, or from steps) and register it; it is callable at once.

        `await tools.local.<name>(...)` works as soon as this returns. Each change is a
        new immutable version (creating the same content again records nothing).

        Args:
            name: `tool` (put under `local`) or `namespace.tool`; identifiers only.
                None only for an Agent Skill, named by its `SKILL.md`.
            kind: `wasm` (compiled, run under wasmtime), `script` (an interpreter,
                run in the process sandbox, speaking JSON-RPC 2.0 over stdio),
                `pipeline` (declarative `steps` calling other tools), or `skill`
                (`language="markdown"`: an Agent Skills folder as `source`; Python
                skills are easier with `save_skill`).
            language: WASM: `rust`, `c`, `zig`, `wat`, or `wasm` (a prebuilt module,
                as bytes or base64). Script: `python`, `node`, `ruby`, `bash`, or
                `command` (with `command=[interpreter, ...]`).
            source: The program's text, or a dict of relative path to text (a Rust
                crate: `{"src/main.rs": ..., "Cargo.toml": ...}`). A WASM tool reads
                its arguments as one JSON object on stdin and prints one JSON value;
                a script answers an `execute` JSON-RPC request.
            description: What the tool does, for search and the docstring.
            input_schema: JSON Schema of the arguments (an object); typed parameters
                of the binding come from it.
            output_schema: JSON Schema of the result; results are checked against it.
            annotations: MCP hints (`readOnlyHint`, `destructiveHint`, ...).
            limits: WASM: `fuel`, `memory_bytes`, `timeout_s`, `stdout_bytes`,
                `stderr_bytes`. Script: `timeout_s`, `cpu_s`, `memory_bytes`,
                `processes`, `file_size_bytes`, `open_files`, `stdout_bytes`,
                `stderr_bytes`.
            policy: WASM: `{"mounts": [{"host", "guest", "writable"}], "env": {...}}`.
                Script: `{"network": bool, "read_only": [...], "writable": [...]}`.
                Nothing on the host is visible unless listed.
            note: Why this version was made.
            entry: A script's main file (default `main.py`, `main.js`, ...).
            command: The interpreter argv for `language="command"`.
            requirements: pip requirements of a Python script (a cached venv).
            packages: npm packages of a Node script (a cached `node_modules`).
            persistent: Keep one warm process that answers many calls.
            secrets: Names `X` whose host variable `TOOLKERNEL_SECRET_X` the script
                gets as `X`; their values are redacted from everything it returns.
            steps: A pipeline's steps: `{"id": "a", "tool": "server.tool", "args":
                {...}, "when": "${input.flag}"}`. Args may hold `${input.x}` and
                `${steps.a.result.items[0]}`; a string that is only a reference keeps
                the value's type. Unknown tools, bad references and cycles are refused.
            output: A pipeline's result template (default: the last step's result).

        Returns:
            The tool's current version.

        Raises:
            RegistryError: An invalid name, schema, limit or policy (nothing stored).
            ToolBuildError: The source did not build; the compiler's messages say why.
            ToolchainMissing: The compiler is not installed; the message says how.
            DependencyError: pip or npm failed; their message says why.
        """
        created = self.factory.create(
            name,
            kind=kind,
            language=language,
            source=source,
            description=description,
            input_schema=input_schema,
            output_schema=output_schema,
            annotations=annotations,
            limits=limits,
            policy=policy,
            note=note,
            on_line=_print_line,
            entry=entry,
            command=command,
            requirements=requirements,
            packages=packages,
            persistent=persistent,
            secrets=secrets,
            steps=steps,
            output=output,
        )
        self.lock.pins.pop(created.name, None)  # a tool made here is used as made
        return created

    def get_tool_details(self, name: str) -> ToolDetails:
        """Describe one tool: its binding's signature, docstring and schemas."""
        return self.discovery.get_tool_details(name)

    async def wait_for_servers(self, timeout: float = 30.0) -> list[ServerStatus]:
        """Wait (at most `timeout` s) until every server has connected or failed."""
        await asyncio.wrap_future(self.host.submit(self.host.wait_settled(timeout)))
        return self.host.statuses()

    async def wait_for_sources_used_by(self, code: str) -> None:
        """Before a cell runs, wait for servers it names that are making a first connection.

        A server with a cached catalog already has bindings and is never waited for, and
        the wait is bounded by the host's connect timeout.
        """
        used = set(_SOURCE_REFERENCE.findall(code))
        if not used:
            return
        loaded = set(self.namespace.sources())
        pending = [
            name
            for name in self.config.servers
            if name not in loaded and self.namespace.python_source(name) in used
        ]
        if pending:
            wait = self.host.wait_settled(self.host.connect_timeout, pending)
            await asyncio.wrap_future(self.host.submit(wait))

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

    def catalog_json(self) -> dict[str, Any]:
        """Every tool (MCP servers' and the registry's) as JSON, with a changing digest."""
        specs = [spec for _, tools in sorted(self.host.snapshot().items()) for spec in tools]
        return {"digest": catalog_hash(specs), "tools": [spec.to_json() for spec in specs]}

    async def call_json(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call `server.tool` through the host and return the raw result as JSON.

        Failures before the tool answers (unknown tool, bad arguments, server down)
        come back as error results with our message, so a caller over JSON sees them.
        """
        try:
            future = self.host.submit(self.host.call(name, arguments))
            result = await asyncio.wrap_future(future)
        except ToolkernelError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
        return {
            "content": result.content,
            "structured": result.structured,
            "is_error": result.is_error,
        }

    def statuses(self) -> list[ServerStatus]:
        """Return each configured server's connection state."""
        return self.host.statuses()

    def _set_source(self, source: str, specs: list[Any]) -> None:
        try:
            self.namespace.set_source(source, specs)
        except Exception:
            log.exception("could not build bindings for %r; its old bindings stay", source)
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _record_use(self, name: str, version: int | None) -> None:
        """Note what a call used, for `%tools lock`; warn if a locked schema drifted."""
        if name.partition(".")[0] in self.host.local_namespaces:
            used = version if version is not None else self.host.registry_version(name)
            if used is not None:
                self.lock.record(name, {"version": used})
            return
        spec = self.host.spec(name)
        if spec is not None:
            self.lock.check_drift(spec)
            self.lock.record(name, {"schema": schema_hash(spec)})

    def _sources(self) -> list[str]:
        """Configured servers, then registry namespaces (the tools discovery covers)."""
        servers = list(self.config.servers)
        local = set(self.host.local_namespaces)
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

    def _load_config(self, home: Path, config_path: Path | None) -> McpConfig:
        try:
            if config_path is not None:
                return load_config(home, explicit=config_path)
            return load_config(home)
        except ConfigError as exc:
            self.config_error = str(exc)
            log.error("%s", exc)
            return McpConfig(servers={})


class DiffText(str):
    """A unified diff that a notebook shows as text, not as a quoted string."""

    __slots__ = ()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self) or "(no differences)")


def _print_line(line: str) -> None:
    print(line, flush=True)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
