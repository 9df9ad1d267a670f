"""Registry tools inside the host: their catalogs, and the runner each kind uses.

MCP tools are called over a session; registry tools are run here: WASM modules on a
worker thread (so the host loop stays free), scripts as sandboxed processes spoken to
over JSON-RPC. Both go
through `ToolHost.call`, the one path every front door uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._spec import ToolResult, ToolSpec
from toolkernel.errors import ToolError, ToolNotFound
from toolkernel.host._envs import EnvManager
from toolkernel.host._peer import MAX_DEPTH, HostCall, HostPeer, Relay, Resources, call_depth
from toolkernel.host._pipeline import run_pipeline
from toolkernel.host._script import ScriptTools
from toolkernel.host._validate import compile_validator, validate_arguments
from toolkernel.host._wasm import WasmTools, json_result

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry, ToolVersion

ProgressHook = Callable[[float, float | None, str | None], None]


@dataclass(frozen=True)
class CallHooks:
    """Where one call's side channels go (each may be None).

    Attributes:
        relay: Answers sampling and elicitation requests the tool sends back.
        on_progress: Receives progress (progress, total, message).
        on_output: Receives streamed output (`stream/chunk`) as text.
        on_log: Receives log messages (tool, level, text).
    """

    relay: Relay | None = None
    on_progress: ProgressHook | None = None
    on_output: Callable[[str], None] | None = None
    on_log: Callable[[str, int, str], None] | None = None


__all__ = ["CallHooks", "LocalTools"]

log = logging.getLogger("toolkernel.host")


class LocalTools:
    """The registry's tools, as the host serves them."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        cache_dir: Path,
        sandbox_backend: str | None = None,
        environ: Callable[[], Mapping[str, str]] = lambda: os.environ,
    ) -> None:
        """Serve the tools of `registry`.

        Args:
            registry: Where the tools' versions and blobs live.
            cache_dir: Where compiled WASM modules are cached.
            sandbox_backend: The process sandbox for script tools (default: the best
                available of bwrap, firejail, nsjail).
            environ: The environment `TOOLKERNEL_SECRET_*` values are read from.
        """
        self._registry = registry
        self._wasm = WasmTools(registry, cache_dir / "wasm")
        self._scripts = ScriptTools(
            registry,
            tools_dir=registry.home / "tools",
            envs=EnvManager(registry.home / "envs"),
            backend=sandbox_backend,
            environ=environ,
        )
        self.host_call: HostCall | None = None
        """Set by the host: how a script's `tools/call` reaches any tool."""
        self.resources: Resources | None = None
        """Set by the host: how a script's `resources/*` reach the MCP servers."""
        self._current: dict[str, ToolVersion] = {}
        self._namespaces: set[str] = set()
        self._validators: dict[tuple[str, int, str], Any] = {}

    @property
    def namespaces(self) -> frozenset[str]:
        """Every namespace that holds (or held) a registry tool."""
        return frozenset(self._namespaces)

    def load(self, namespaces: Mapping[str, object] | None = None) -> dict[str, list[ToolSpec]]:
        """Read the current tools from the registry; return each namespace's specs.

        A namespace whose last tool was deleted maps to an empty list, so its bindings
        go away too.

        Args:
            namespaces: Names that belong to MCP servers; registry tools in them are
                ignored (and logged), so a server's tools are never shadowed.
        """
        current = {}
        for version in self._registry.registry_tools():
            if version.kind == "skill":
                continue  # skills run in the kernel (`from skills import x`), not here
            if namespaces is not None and version.namespace in namespaces:
                log.warning("ignoring %s: its namespace is an MCP server's", version.name)
                continue
            current[version.name] = version
        self._current = current
        self._namespaces |= {v.namespace for v in current.values()}
        catalogs: dict[str, list[ToolSpec]] = {ns: [] for ns in self._namespaces}
        for version in current.values():
            catalogs[version.namespace].append(version.spec())
        return catalogs

    def current(self, name: str) -> ToolVersion | None:
        """Return the current version of registry tool `name`, if it is live."""
        return self._current.get(name)

    def pinned(self, name: str, version: int) -> ToolVersion:
        """Return version `version` of `name` (for calls pinned to an old version).

        Raises:
            ToolNotFound: No such tool or version.
        """
        return self._registry.tool_version(name, version)

    def check_wasm(self, name: str, wasm: bytes) -> None:
        """Prove `wasm` loads as a WASI command before it is registered as `name`."""
        self._wasm.check(name, wasm)

    async def call(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        version: int | None = None,
        hooks: CallHooks | None = None,
    ) -> ToolResult:
        """Check `arguments` and run one call of registry tool `name` (or its `version`).

        Raises:
            ToolNotFound: No live tool `name`, or no such version.
            ToolInputError: The arguments do not match the input schema (nothing ran).
            SandboxError: The sandbox stopped or refused the tool (a `ToolError`).
            ToolError: The tool failed, or its output broke the contract or its schema.
        """
        found = self._current.get(name) if version is None else self.pinned(name, version)
        if found is None:
            raise self._not_found(name)
        spec = found.spec()
        validate_arguments(spec, self._validator(found, "input_schema"), arguments)
        if found.kind == "wasm":
            result = await asyncio.to_thread(self._wasm.run, found, arguments)
        elif found.kind == "script":
            result = await self._call_script(found, arguments, hooks or CallHooks())
        elif found.kind == "pipeline":
            result = await self._call_pipeline(found, arguments)
        else:
            msg = f"{name} is a {found.kind} tool, which this toolkernel cannot run"
            raise ToolError(msg, tool=name)
        self._check_output(found, result)
        return result

    def install_script_deps(
        self, manifest: Mapping[str, Any], on_line: Callable[[str], None] | None = None
    ) -> None:
        """Install what a script manifest needs, before the version is registered.

        Raises:
            DependencyError: The install failed (nothing half-made is left).
        """
        self._scripts.install(manifest, on_line)

    async def _call_pipeline(self, version: ToolVersion, arguments: dict[str, Any]) -> ToolResult:
        if self.host_call is None:
            msg = f"{version.name} needs a tool host to run"
            raise ToolError(msg, tool=version.name)
        manifest = version.manifest
        token = call_depth.set(call_depth.get() + 1)
        try:
            if call_depth.get() > MAX_DEPTH:
                msg = f"{version.name}: pipelines nest deeper than {MAX_DEPTH}; is there a loop?"
                raise ToolError(msg, tool=version.name)
            value = await run_pipeline(
                version.name,
                manifest["steps"],
                arguments,
                self.host_call,
                output=manifest.get("output"),
            )
        finally:
            call_depth.reset(token)
        return json_result(version.name, value)

    async def _call_script(
        self, version: ToolVersion, arguments: dict[str, Any], hooks: CallHooks
    ) -> ToolResult:
        if self.host_call is None:
            msg = f"{version.name} needs a tool host to run"
            raise ToolError(msg, tool=version.name)
        peer = HostPeer(
            tool=version.name,
            host_call=self.host_call,
            registry=self._registry,
            secrets=self._scripts.secrets_of(version),
            relay=hooks.relay,
            resources=self.resources,
            on_progress=hooks.on_progress,
            on_output=hooks.on_output,
            on_log=hooks.on_log,
        )
        token = call_depth.set(call_depth.get() + 1)
        try:
            return await self._scripts.call(version, arguments, peer)
        finally:
            call_depth.reset(token)

    async def aclose(self) -> None:
        """Stop persistent script workers (on the host loop)."""
        await self._scripts.close()

    def close(self) -> None:
        """Release the runners' native resources."""
        self._wasm.close()

    def _validator(self, version: ToolVersion, which: str) -> Any:
        key = (version.name, version.version, which)
        if key not in self._validators:
            schema = version.manifest.get(which)
            self._validators[key] = compile_validator(schema) if isinstance(schema, dict) else None
        return self._validators[key]

    def _check_output(self, version: ToolVersion, result: ToolResult) -> None:
        validator = self._validator(version, "output_schema")
        if result.is_error or validator is None:
            return
        error = next(iter(validator.iter_errors(result.structured)), None)
        if error is not None:
            where = "".join(f"[{p!r}]" for p in error.path) or "the result"
            msg = (
                f"{version.name} returned a result that does not match its output schema: "
                f"{where}: {error.message}; fix the tool or its output_schema"
            )
            raise ToolError(msg, tool=version.name)

    def _not_found(self, name: str) -> ToolNotFound:
        namespace = name.partition(".")[0]
        tools = sorted(n.partition(".")[2] for n in self._current if n.startswith(namespace + "."))
        shown = ", ".join(tools[:20]) + (" ..." if len(tools) > 20 else "")
        msg = f"namespace {namespace!r} has no tool {name.partition('.')[2]!r}; it offers: "
        return ToolNotFound(msg + (shown or "no tools"), tool=name)
