"""The one protocol every kind of registry tool implements, and what its phases are given.

A kind's life has four phases, each one method of `ToolKind`:

- `check`: turn a `ToolDraft`'s kind-specific fields into manifest fields, refusing
  anything malformed or unsafe with a message that says what to write instead;
- `build`: make the version's files from its source (compile, parse, copy into blobs);
- `install`: make ready what a version needs to run beyond its files (a script's
  dependency environment), before it is stored and becomes current;
- `run`: execute one call, inside `ToolHost.call`, with the call's hooks.

The factory runs the first three; the host runs the last. Neither knows any kind.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from toolkernel._spec import ClientRelay

if TYPE_CHECKING:
    from toolkernel._spec import ToolResult
    from toolkernel.kinds._draft import ToolDraft
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = [
    "MAX_DEPTH",
    "CallContext",
    "CallHooks",
    "HostCall",
    "KindContext",
    "LineSink",
    "ProgressHook",
    "Relay",
    "Resources",
    "ToolIndex",
    "ToolKind",
    "call_depth",
]

LineSink = Callable[[str], None]
"""Receives a build's or an install's output, line by line."""
ProgressHook = Callable[[float, float | None, str | None], None]
"""Receives progress of one call: (progress, total or None, message or None)."""
HostCall = Callable[[str, dict[str, Any]], Awaitable["ToolResult"]]
"""Calls any tool through `ToolHost.call` (a tool calling a tool)."""
Relay = ClientRelay
"""Answers a request a tool sends back to the client (sampling, elicitation)."""
Resources = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Serves `resources/list` and `resources/read` from the connected MCP servers."""

MAX_DEPTH = 8
"""How deep tools may call tools (a script calling a pipeline calling a script ...)."""

call_depth: contextvars.ContextVar[int] = contextvars.ContextVar("toolkernel_depth", default=0)
"""How many registry tool calls are running above the current one."""


def _os_environ() -> Mapping[str, str]:
    return os.environ


@dataclass(frozen=True)
class KindContext:
    """What a kind works with, the same in a factory and in a host.

    Attributes:
        registry: Where versions and their blobs live.
        cache_dir: Where build outputs, compiler caches and compiled modules are cached.
        sandbox_backend: The process sandbox (`bwrap`, `firejail`, `nsjail`, or the
            opt-in `rlimits`); None: the best one available.
        toolchain_path: Where to look for compilers (a `PATH`-style string); None: the
            default places.
        crate_registry: Where Rust builds fetch crates (`crates.io`, an index URL, or
            an absolute folder holding a local or vendored registry); `off`: no
            fetch, only the toolchain's vendored crates (Debian's), as offline.
        environ: The environment secrets are read from.
    """

    registry: ToolRegistry
    cache_dir: Path
    sandbox_backend: str | None = None
    toolchain_path: str | None = None
    crate_registry: str = "crates.io"
    environ: Callable[[], Mapping[str, str]] = field(default=_os_environ, repr=False)


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


@dataclass(frozen=True)
class CallContext:
    """What one run is given by the host.

    Attributes:
        hooks: The call's progress, output, log and relay hooks.
        host_call: Calls other tools through `ToolHost.call`; None outside a host.
        resources: Reaches the MCP servers' resources; None when there are none.
    """

    hooks: CallHooks = field(default_factory=CallHooks)
    host_call: HostCall | None = None
    resources: Resources | None = None


class ToolIndex(Protocol):
    """What a kind may see of the other tools while it checks a draft."""

    def names(self) -> Collection[str]:
        """Every tool that can be called now, by qualified name (MCP and registry)."""

    def current(self, name: str) -> ToolVersion | None:
        """The current registry version of `name`, or None (an MCP tool, or none)."""


class ToolKind(Protocol):
    """One kind of registry tool: how it is checked, built, installed and run.

    A kind is made once per owner (a factory, a host) from a `KindContext`; whatever it
    keeps (a WASM engine, warm script processes) lives in that instance.
    """

    name: str
    """The `kind` its tools are created with and stored as (`wasm`)."""
    namespace: str | None
    """The namespace its tools live in and own (`skills`); None: any namespace but one
    another kind owns, `local` by default."""
    served: bool
    """Whether `ToolHost` serves its tools; False for kinds run elsewhere (a Python
    skill runs in the kernel)."""

    def default_name(self, source: object) -> str:
        """The name of a draft given none, from its `source` (an Agent Skill's `SKILL.md`).

        Raises:
            RegistryError: The source gives no name; the message says to give one.
        """

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        """Check `draft`'s kind-specific fields; return them as manifest fields.

        The result is merged over the generic fields (`description`, `input_schema`,
        `output_schema`, `annotations`), so a kind may replace those too.

        Raises:
            RegistryError: Anything is malformed or unsafe; the message says what to
                write instead.
        """

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        """Make the version's files from `draft`'s source, stored as blobs.

        Returns the manifest fields that name the blobs (`source`, `artifact`).

        Raises:
            RegistryError: The source is malformed.
            ToolBuildError: It did not build (with the compiler's messages).
            ToolchainMissing: The compiler is not installed here.
        """

    def install(
        self, name: str, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any] | None:
        """Make ready what a version needs beyond its files, before it becomes current.

        Idempotent: what is already there is reused. Returns manifest fields that record
        what was installed (a script's exact dependency versions), or None.

        Raises:
            DependencyError: A dependency did not install (nothing half-made is left).
        """

    async def run(
        self, version: ToolVersion, arguments: dict[str, Any], call: CallContext
    ) -> ToolResult:
        """Run one call of `version` with checked `arguments`.

        Raises:
            SandboxError: The sandbox stopped or refused the tool (a `ToolError`).
            ToolError: The tool failed, or broke its contract.
        """

    async def aclose(self) -> None:
        """Stop what runs on the host loop (warm processes)."""

    def close(self) -> None:
        """Release native resources (engines, threads)."""
