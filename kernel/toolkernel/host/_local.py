"""Registry tools inside the host: their catalogs, and the call that runs them by kind.

MCP tools are called over a session; registry tools are run here, each by its kind
(`toolkernel.kinds`), which this module does not know: it checks the arguments, hands
the call to the kind with the call's hooks, and checks the result. Every call comes
through `ToolHost.call`, the one path every front door uses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel._spec import ToolResult, ToolSpec
from toolkernel.errors import ToolError, ToolNotFound
from toolkernel.host._fastcheck import Check, fast_check
from toolkernel.host._validate import compile_validator, validate_arguments
from toolkernel.kinds import CallContext, CallHooks, HostCall, KindContext, Kinds, Resources

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry, ToolVersion

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
            cache_dir: Where the kinds cache what they run (compiled WASM modules).
            sandbox_backend: The process sandbox for sandboxed kinds (default: the best
                available of bwrap, firejail, nsjail).
            environ: The environment tools' secrets are read from.
        """
        self._registry = registry
        self._kinds = Kinds(
            KindContext(
                registry, cache_dir=cache_dir, sandbox_backend=sandbox_backend, environ=environ
            )
        )
        self.host_call: HostCall | None = None
        """Set by the host: how a tool calling a tool reaches any tool."""
        self.resources: Resources | None = None
        """Set by the host: how a tool's `resources/*` requests reach the MCP servers."""
        self._current: dict[str, ToolVersion] = {}
        self._namespaces: frozenset[str] = frozenset()
        self._validators: dict[tuple[str, int, str], tuple[Check, Any]] = {}
        self._specs: dict[tuple[str, int], ToolSpec] = {}

    @property
    def namespaces(self) -> frozenset[str]:
        """Every namespace that holds (or held) a registry tool."""
        return self._namespaces

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
            kind = self._kinds.find(version.kind)
            if kind is not None and not kind.served:
                continue  # run elsewhere (a skill: in the kernel, `from skills import x`)
            if namespaces is not None and version.namespace in namespaces:
                log.warning("ignoring %s: its namespace is an MCP server's", version.name)
                continue
            current[version.name] = version
        # Replaced, never changed in place: calls on the host loop read both meanwhile.
        self._current = current
        self._namespaces = self._namespaces | {v.namespace for v in current.values()}
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
        surely_valid, validator = self._validator(found, "input_schema")
        if not surely_valid(arguments):
            validate_arguments(self._spec(found), validator, arguments)
        kind = self._kinds.find(found.kind)
        if kind is None or not kind.served:
            msg = f"{name} is a {found.kind} tool, which this toolkernel cannot run"
            raise ToolError(msg, tool=name)
        call = CallContext(hooks or CallHooks(), self.host_call, self.resources)
        result = await kind.run(found, arguments, call)
        self._check_output(found, result)
        return result

    async def aclose(self) -> None:
        """Stop what the kinds run between calls (warm script workers), on the host loop."""
        await self._kinds.aclose()

    def close(self) -> None:
        """Release the kinds' native resources (the WASM engine)."""
        self._kinds.close()

    def _spec(self, version: ToolVersion) -> ToolSpec:
        key = (version.name, version.version)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = version.spec()
        return spec

    def _validator(self, version: ToolVersion, which: str) -> tuple[Check, Any]:
        """A fast check that may say "surely valid", and the validator that decides."""
        key = (version.name, version.version, which)
        checks = self._validators.get(key)
        if checks is None:
            schema = version.manifest.get(which)
            validator = compile_validator(schema) if isinstance(schema, dict) else None
            surely_valid = fast_check(schema) if validator is not None else _anything
            checks = self._validators[key] = (surely_valid, validator)
        return checks

    def _check_output(self, version: ToolVersion, result: ToolResult) -> None:
        surely_valid, validator = self._validator(version, "output_schema")
        if result.is_error or validator is None or surely_valid(result.structured):
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


def _anything(value: Any) -> bool:
    """No schema, or one jsonschema cannot use: every value passes (the tool judges)."""
    return True
