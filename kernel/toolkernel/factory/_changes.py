"""ToolChanges: every registry change and read a session makes, behind one seam.

A kernel's lifecycle functions (`create_tool`, `rollback_tool`, `delete_tool`, ...),
`save_skill` and `call_history` go through a `ToolChanges`. The plain kernel's is this
one, in process: it names, checks, builds and stores through its `ToolFactory` and
`ToolRegistry`. A kernel whose tools run in a `toolkernel host` (the sandboxed kernel)
gets the host's instead (`RemoteToolHost.registry_changes()`), with the same methods:
the host then applies each change, with this very class, to the real registry outside
the sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from toolkernel.factory._create import ToolFactory
    from toolkernel.kinds import LineSink, ToolDraft
    from toolkernel.registry import CallRecord, ToolRegistry, ToolVersion

__all__ = ["RegistryChanges", "ToolChanges"]


class RegistryChanges(Protocol):
    """What a session changes and reads in the registry; names are as a person gives them.

    A name without a namespace is put in the default one (`local`), as `create_tool`
    does. Each method raises what the registry raises (`ToolNotFound`,
    `RegistryError`, `ToolBuildError`, ...), with the same message wherever it runs.
    """

    def create(self, draft: ToolDraft, *, on_line: LineSink | None = None) -> ToolVersion:
        """Check, build and store `draft`; return the tool's current version."""
        ...

    def rollback(self, name: str, version: int, *, note: str | None = None) -> ToolVersion:
        """Make `version` of `name` current again, as a new version."""
        ...

    def delete(self, name: str, *, note: str | None = None) -> ToolVersion:
        """Soft-delete `name`; return the delete (a tombstone version)."""
        ...

    def restore(self, name: str, *, note: str | None = None) -> ToolVersion:
        """Bring a deleted `name` back as it was when deleted."""
        ...

    def versions(self, name: str) -> list[ToolVersion]:
        """Every version of `name`, oldest first."""
        ...

    def version(self, name: str, version: int | None = None) -> ToolVersion:
        """Version `version` of `name` (already qualified), or its current one."""
        ...

    def diff(self, name: str, a: int, b: int | None = None) -> str:
        """A unified diff of `name` from version `a` to `b` (default: current)."""
        ...

    def history(self, limit: int = 20, *, tool: str | None = None) -> list[CallRecord]:
        """The newest `limit` recorded tool calls (of `tool` only), newest first."""
        ...


class ToolChanges:
    """`RegistryChanges` in this process: a `ToolFactory` and its `ToolRegistry`."""

    def __init__(self, factory: ToolFactory, registry: ToolRegistry) -> None:
        """Change `registry` (the factory's own), recording `factory.author` as author."""
        self.factory = factory
        self.registry = registry

    def create(self, draft: ToolDraft, *, on_line: LineSink | None = None) -> ToolVersion:
        """Check, build and store `draft` (`ToolFactory.create`)."""
        return self.factory.create(draft, on_line=on_line)

    def rollback(self, name: str, version: int, *, note: str | None = None) -> ToolVersion:
        """`ToolRegistry.rollback_tool`, `name` qualified as a lookup."""
        qualified = self.factory.qualify(name, reserved_ok=True)
        return self.registry.rollback_tool(qualified, version, note=note, author=self.author)

    def delete(self, name: str, *, note: str | None = None) -> ToolVersion:
        """`ToolRegistry.delete_tool`; a qualified name is passed as given."""
        return self.registry.delete_tool(self._name(name), note=note, author=self.author)

    def restore(self, name: str, *, note: str | None = None) -> ToolVersion:
        """`ToolRegistry.restore_tool`; a qualified name is passed as given."""
        return self.registry.restore_tool(self._name(name), note=note, author=self.author)

    def versions(self, name: str) -> list[ToolVersion]:
        """`ToolRegistry.tool_versions`, `name` qualified as a lookup."""
        return self.registry.tool_versions(self.factory.qualify(name, reserved_ok=True))

    def version(self, name: str, version: int | None = None) -> ToolVersion:
        """`ToolRegistry.tool_version`."""
        return self.registry.tool_version(name, version)

    def diff(self, name: str, a: int, b: int | None = None) -> str:
        """`ToolRegistry.diff_tool`, `name` qualified as a lookup."""
        return self.registry.diff_tool(self.factory.qualify(name, reserved_ok=True), a, b)

    def history(self, limit: int = 20, *, tool: str | None = None) -> list[CallRecord]:
        """`ToolRegistry.call_history`."""
        return self.registry.call_history(limit, tool=tool)

    @property
    def author(self) -> str:
        """Who is recorded as the author of the versions made here."""
        return self.factory.author

    def _name(self, name: str) -> str:
        """`name` in the default namespace when it has none, else as given.

        A qualified name is not checked here, so that the registry can say that an MCP
        tool (`my-server.get-weather`) is not its own.
        """
        if isinstance(name, str) and "." in name:
            return name
        return self.factory.qualify(name, reserved_ok=True)
