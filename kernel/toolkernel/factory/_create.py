"""ToolFactory: check a `ToolDraft`, build it through its kind, store it as a new version.

The factory checks everything before it writes anything: the draft's shared fields, the
name, the namespace (a configured MCP server's name is refused, and so is a namespace
a kind owns), then the kind's own fields (`ToolKind.check`). The kind then builds the
version's files and installs what it needs; only then is the version stored. A failed
build registers nothing.

The factory knows no kind: it dispatches through `toolkernel.kinds`. It needs no host
either: the registry tells a host in this process of each new version as it is stored,
so the live kernel's binding appears before `create` returns (hosts in other processes
follow the registry on their own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolNotFound
from toolkernel.kinds import KindContext, Kinds, ToolDraft
from toolkernel.registry import NewVersion, ToolVersion, check_tool_name

if TYPE_CHECKING:
    from toolkernel.kinds import LineSink, ToolKind
    from toolkernel.registry import ToolRegistry

__all__ = [
    "CRATE_REGISTRY_VARIABLE",
    "DEFAULT_NAMESPACE",
    "SANDBOX_BACKEND_VARIABLE",
    "LiveTools",
    "PreparedTool",
    "ToolFactory",
]

DEFAULT_NAMESPACE = "local"
"""Where a tool created without a namespace lives (`tools.local.<name>`)."""

SANDBOX_BACKEND_VARIABLE = "TOOLKERNEL_SANDBOX_BACKEND"
"""Names the process sandbox of script tools and compilers when nothing else does; a
host where no sandbox can start (a Binder image) sets it to the opt-in `rlimits`."""

CRATE_REGISTRY_VARIABLE = "TOOLKERNEL_CRATE_REGISTRY"
"""Names where Rust builds fetch crates when nothing else does (`off`: no fetch)."""


LiveTools = Callable[[], Collection[str]]
"""Returns the qualified names of the tools a running host serves now (a session's view)."""


class ToolFactory:
    """Creates registry tools, checked against the tools there are."""

    def __init__(
        self,
        registry: ToolRegistry,
        live_tools: LiveTools | None = None,
        *,
        reserved: Collection[str],
        cache_dir: Path,
        author: str = "",
        toolchain_path: str | None = None,
        sandbox_backend: str | None = None,
        crate_registry: str = "crates.io",
    ) -> None:
        """Create tools in `registry`.

        Args:
            registry: Where versions and blobs are stored.
            live_tools: The tools a running host serves, which pipelines are checked
                against; None (the CLI): the registry's cached catalogs and tools.
            reserved: Namespaces that are taken (the configured MCP servers' names).
            cache_dir: Where build outputs are cached (by the hash of their sources)
                and compilers keep their caches.
            author: Who is recorded as the author of new versions.
            toolchain_path: Where to look for compilers (a `PATH`-style string); by
                default `$PATH`, `/usr/bin` and the `ziglang` package.
            sandbox_backend: The process sandbox compilers and installers run in
                (`bwrap`, `firejail`, `nsjail`, or the opt-in `rlimits`); by default
                the best one available.
            crate_registry: Where Rust builds fetch crates: `crates.io`, a registry
                index URL, or an absolute folder (a local or vendored registry);
                `off`: only the toolchain's vendored crates (Debian's). If a fetch
                fails, the vendored crates are tried before giving up.
        """
        self._registry = registry
        self._live_tools = live_tools
        self._reserved = frozenset(reserved)
        self.author = author
        self._kinds = Kinds(
            KindContext(
                registry,
                cache_dir=cache_dir,
                sandbox_backend=sandbox_backend,
                toolchain_path=toolchain_path,
                crate_registry=crate_registry,
            )
        )

    @property
    def registry(self) -> ToolRegistry:
        """The registry new versions are stored in."""
        return self._registry

    @property
    def _toolchain_path(self) -> str | None:
        return self._kinds.context.toolchain_path

    @_toolchain_path.setter
    def _toolchain_path(self, path: str | None) -> None:
        # Tests point a made factory at other compilers (or none).
        self._kinds = Kinds(dataclasses.replace(self._kinds.context, toolchain_path=path))

    def qualify(self, name: str, *, reserved_ok: bool = False) -> str:
        """Return `namespace.tool` for `name`, adding the default namespace when absent.

        Raises:
            RegistryError: The name is unsafe, or (unless `reserved_ok`, for lookups)
                its namespace is an MCP server's.
        """
        return self._qualify(name, DEFAULT_NAMESPACE, reserved_ok=reserved_ok)

    def create(
        self,
        draft: ToolDraft | str | None = None,
        *,
        on_line: LineSink | None = None,
        **arguments: Any,
    ) -> ToolVersion:
        """Build and register a tool; return its new (or unchanged) current version.

        Args:
            draft: A `ToolDraft`; or the tool's name (None for an Agent Skill, named by
                its `SKILL.md`), with the draft's other fields as keywords.
            on_line: Receives the build's and the install's output, line by line.
            **arguments: The other fields of `ToolDraft` (`kind`, `language`, ...).

        Raises:
            RegistryError: The name, kind, schemas, limits or policy are invalid.
            ToolBuildError: The source did not compile (with the compiler's messages).
            ToolchainMissing: The language's compiler is not installed here.
            DependencyError: A script's requirements or packages did not install.
        """
        built = self.prepare(draft, on_line=on_line, **arguments)
        return self._registry.add_version(
            built.name,
            kind=built.kind,
            manifest=built.manifest,
            note=built.note,
            author=self.author,
        )

    def store(self, prepared: Sequence[PreparedTool]) -> list[ToolVersion]:
        """Store prepared tools in one registry transaction: all of them, or none.

        Returns:
            Each one's current version after the write, in order.

        Raises:
            RegistryError: One was refused; nothing was stored.
        """
        return self._registry.add_versions(
            [NewVersion(p.name, p.kind, p.manifest, p.note, self.author) for p in prepared]
        )

    def prepare(
        self,
        draft: ToolDraft | str | None = None,
        *,
        on_line: LineSink | None = None,
        pending: Mapping[str, PreparedTool] | None = None,
        **arguments: Any,
    ) -> PreparedTool:
        """Check, build and install a tool as `create` does, but store nothing.

        `ToolRegistry.add_versions` then stores several prepared tools in one
        transaction (an import: all or nothing). Builds and installs land in caches
        keyed by content, which nothing lists, so a tool prepared and never stored
        leaves nothing a person sees.

        Args:
            draft: As for `create`.
            on_line: As for `create`.
            pending: Tools prepared earlier and stored with this one, by qualified
                name; a pipeline's steps may call them.
            **arguments: As for `create`.

        Raises:
            The errors of `create`.
        """
        draft = ToolDraft.of(draft, **arguments)
        kind = self._kinds.get(draft.kind)
        name = self._name(kind, draft.name, draft.source)
        manifest: dict[str, Any] = {
            "description": draft.description,
            "input_schema": dict(draft.input_schema or {"type": "object", "properties": {}}),
            "output_schema": draft.output_schema,
            "annotations": dict(draft.annotations) if draft.annotations else None,
        }
        tools = _Tools(self._registry, self._live_tools, self._reserved, self._kinds, pending)
        manifest |= kind.check(name, draft, tools)
        manifest |= kind.build(name, draft, manifest, on_line)
        manifest |= kind.install(name, manifest, on_line) or {}
        return PreparedTool(name, draft.kind, manifest, draft.note)

    def name_for(self, name: str | None, *, kind: str, source: object = None) -> str:
        """Return the qualified name `create` stores a tool under, without storing anything.

        A kind that owns a namespace (skills) puts its tools there; other tools default
        to `local`. A tool given no name takes the one its `source` gives (an Agent
        Skill's `SKILL.md`).

        Raises:
            RegistryError: The kind is unknown, or the name is missing, unsafe, or in
                the wrong namespace.
        """
        return self._name(self._kinds.get(kind), name, source)

    def _name(self, kind: ToolKind, name: str | None, source: object) -> str:
        if name is None:
            name = kind.default_name(source)
        own = kind.namespace
        qualified = self._qualify(name, own or DEFAULT_NAMESPACE)
        namespace, tool = qualified.split(".", 1)
        if own is not None and namespace != own:
            msg = f"{kind.name}s live in the {own!r} namespace; name it '{own}.{tool}'"
            raise RegistryError(msg)
        owner = None if own is not None else self._kinds.owner_of(namespace)
        if owner is not None:
            msg = (
                f"{qualified}: the {namespace!r} namespace holds {owner.name}s only; "
                f"use '{DEFAULT_NAMESPACE}'"
            )
            raise RegistryError(msg)
        return qualified

    def _qualify(self, name: str, default: str, *, reserved_ok: bool = False) -> str:
        if not isinstance(name, str):
            msg = f"a tool name must be a str like 'prime_generator', not {name!r}"
            raise RegistryError(msg)
        qualified = name if "." in name else f"{default}.{name}"
        namespace, _ = check_tool_name(qualified)
        if namespace in self._reserved and not reserved_ok:
            msg = (
                f"cannot create {qualified!r}: {namespace!r} is a configured MCP server; "
                f"choose another namespace, e.g. '{DEFAULT_NAMESPACE}.{qualified.split('.')[1]}'"
            )
            raise RegistryError(msg)
        return qualified


@dataclass(frozen=True)
class PreparedTool:
    """A checked and built tool version, not stored yet (`ToolFactory.prepare`).

    Attributes:
        name: Its qualified name.
        kind: Its kind.
        manifest: What `ToolRegistry.add_version` stores.
        note: Why it was made.
    """

    name: str
    kind: str
    manifest: dict[str, Any]
    note: str = ""


class _Tools:
    """What a kind sees of the other tools: the host's catalog, else the registry's.

    Tools prepared to be stored with the one being checked (`pending`) count as there.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        live_tools: LiveTools | None,
        reserved: frozenset[str],
        kinds: Kinds,
        pending: Mapping[str, PreparedTool] | None = None,
    ) -> None:
        self._registry = registry
        self._live_tools = live_tools
        self._reserved = reserved
        self._kinds = kinds
        self._pending = dict(pending or {})

    def names(self) -> set[str]:
        return self._stored_names() | set(self._pending)

    def _stored_names(self) -> set[str]:
        if self._live_tools is not None:
            return set(self._live_tools())
        # No host (the CLI): what an unstarted host would serve, from the registry alone.
        cached = self._registry.load_catalogs()
        reserved = self._reserved
        names = {s.qualified_name for n, specs in cached.items() if n in reserved for s in specs}
        for version in self._registry.registry_tools():
            kind = self._kinds.find(version.kind)
            if version.namespace not in reserved and (kind is None or kind.served):
                names.add(version.name)
        return names

    def current(self, name: str) -> ToolVersion | None:
        prepared = self._pending.get(name)
        if prepared is not None:
            return ToolVersion(name, 0, prepared.kind, prepared.manifest, "", 0.0, prepared.note)
        if name.partition(".")[0] in self._reserved:
            return None  # an MCP server's namespace: registry tools there are not served
        try:
            return self._registry.tool_version(name)
        except ToolNotFound:
            return None
