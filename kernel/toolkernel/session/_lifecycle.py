"""The kernel's lifecycle API: create, version, diff, roll back, delete and restore tools.

`Toolbox` inherits it; these are the functions a kernel preloads for changing tools
(`create_tool`, `tool_versions`, `diff_tool`, `rollback_tool`, `delete_tool`,
`restore_tool`, `save_skill`, `load_skill`). Every change goes through the session's
`RegistryChanges`: in process, the one `ToolFactory` and the registry, which tells the
host at once, so bindings follow before the change returns; in a sandboxed kernel, the
`toolkernel host`, which applies it to the real registry outside the sandbox.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError, ToolkernelError
from toolkernel.kinds import ToolDraft
from toolkernel.kinds.skill import AgentSkill, PythonSkill, skill_entry, skill_source
from toolkernel.session._sync import run_blocking

if TYPE_CHECKING:
    from toolkernel.bundles import ImportedTool
    from toolkernel.config import McpConfig
    from toolkernel.factory import RegistryChanges, ToolFactory
    from toolkernel.host import ToolHost
    from toolkernel.kinds.skill import SkillLibrary
    from toolkernel.registry import ToolRegistry, ToolVersion
    from toolkernel.session._lock import ToolLock

__all__ = ["DiffText", "ToolLifecycle"]


class ToolLifecycle:
    """Creating and changing registry tools and skills, for a `Toolbox`."""

    factory: ToolFactory
    registry: ToolRegistry
    changes: RegistryChanges
    """Where changes go: this process's registry, or the tool host's (sandboxed kernel)."""
    host: ToolHost
    lock: ToolLock
    skills: SkillLibrary
    skill_scope: dict[str, Any]
    server_config: McpConfig
    connect_timeout: float
    adopt_servers: Callable[[Collection[str]], None]
    registry_error: str | None
    """Why the home's registry could not be opened (the kernel then runs without it)."""

    def _check_registry(self) -> None:
        if self.registry_error is not None:
            raise RegistryError(self.registry_error)

    def export_tools(
        self, names: str | Sequence[str], path: str | Path, *, history: bool = False
    ) -> Path:
        """Write tools as a bundle: a folder, or a `.tar.gz` when `path` ends so.

        Args:
            names: `local.word_count`, a namespace such as `local` or `skills`, or a list.
            path: A new (or empty) folder, or a `.tar.gz` file.
            history: Also write every earlier version; an import replays them.

        Returns:
            The bundle's path. `import_tools(path)` in another home brings it back.
        """
        from toolkernel.bundles import export_tools  # noqa: PLC0415 - off kernel start-up

        return export_tools(self.registry, names, Path(path), history=history)

    def import_tools(
        self,
        source: str | Path,
        *,
        overwrite: bool = False,
        namespace: str | None = None,
        history: bool = True,
        trust: bool = False,
    ) -> list[ImportedTool]:
        """Import tools; each becomes callable at once, like a `create_tool`.

        Args:
            source: A tool folder (`tool.json` or `SKILL.md`), a folder of them, a
                bundle folder or `.tar.gz`, a Skillz tool folder (`manifest.json`), a
                git URL (`https://...git`, `git@host:repo`, `file:///path`, with an
                optional `#branch`) or a gist (`https://gist.github.com/<user>/<id>`).
            overwrite: Make a new version of tools that exist (default: refuse, and
                import nothing).
            namespace: Put every tool in this namespace instead; skills stay in
                `skills`, the namespace `from skills import name` reads.
            history: Replay a bundle's earlier versions for tools new here.
            trust: Only after a person read the tools: approve the grants they ask for
                (network, host paths, secrets). Tools that ask for none need no approval.

        Raises:
            TrustRequired: Tools ask for grants no person approved; the message lists
                each tool's grants; nothing was written.
            BundleError: Unsafe or unreadable source, or a name collision.
            RegistryError, ToolBuildError, DependencyError: A tool was refused or did
                not build.

        An import is all or nothing: whatever fails, nothing was written.
        """
        self._check_registry()
        from toolkernel.bundles import import_tools  # noqa: PLC0415 - off kernel start-up

        imported = import_tools(
            self.factory,
            source,
            overwrite=overwrite,
            namespace=namespace,
            history=history,
            on_line=_print_line,
            trust=trust,
            # As create_tool does: a pipeline's servers finish connecting before its check.
            prepare=lambda found: self._wait_for_step_servers(found.kwargs.get("steps")),
            taken_servers=set(self.server_config.servers),
        )
        for tool in imported:
            self.lock.pins.pop(tool.name, None)
        servers = [t.name for t in imported if t.kind == "mcp" and t.status != "unchanged"]
        if servers:
            self.adopt_servers(servers)  # written to the home's mcp.json: run them here too
        return imported

    def _wait_for_step_servers(self, steps: Sequence[Mapping[str, Any]] | None) -> None:
        """Let the servers a pipeline's steps name finish connecting, so their tools are known."""
        if not isinstance(steps, Sequence):
            return
        named = {
            str(step.get("tool", "")).partition(".")[0]
            for step in steps
            if isinstance(step, Mapping)
        }
        servers = named & set(self.server_config.servers)
        if servers:
            run_blocking(self.host.statuses(servers, settle=self.connect_timeout))

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
        self._check_registry()
        if function is None:
            return lambda found: self.save_skill(
                found, name=name, description=description, note=note
            )
        if isinstance(function, str):
            source, entry = function, skill_entry(function, name)
        else:
            source, entry = skill_source(function, self.skill_scope), function.__name__
        draft = ToolDraft.of(
            name or entry,
            kind="skill",
            language="python",
            source=source,
            entry=entry,
            description=description,
            note=note,
        )
        created = self.changes.create(draft)
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
        return self.changes.versions(name)

    def diff_tool(self, name: str, a: int, b: int | None = None) -> DiffText:
        """Return a unified diff (sources, schemas, policy) of `name` from version `a` to `b`.

        `b` defaults to the current version.
        """
        return DiffText(self.changes.diff(name, a, b))

    def rollback_tool(self, name: str, version: int, *, note: str | None = None) -> ToolVersion:
        """Make version `version` of `name` current again, as a new version; bindings follow.

        History is kept: the rollback is appended as a copy of the old version. Rolling
        a deleted tool back restores it.
        """
        self._check_registry()
        restored = self.changes.rollback(name, version, note=note)
        self.lock.pins.pop(restored.name, None)
        return restored

    def delete_tool(self, name: str, *, note: str | None = None) -> ToolVersion:
        """Delete registry tool `name`: it leaves `tools`, search and skills at once.

        The delete is soft: it is a new version (its `deleted` is True) at the end of the
        history, and `restore_tool(name)` brings the tool back. Creating a tool of the
        same name makes a new version of it.

        Returns:
            The delete, as a version.

        Raises:
            ToolNotFound: No registry tool has that name.
            RegistryError: It is already deleted, or it is an MCP server's tool.
        """
        self._check_registry()
        tombstone = self.changes.delete(name, note=note)
        self.lock.pins.pop(tombstone.name, None)
        return tombstone

    def restore_tool(self, name: str, *, note: str | None = None) -> ToolVersion:
        """Bring back a deleted tool as it was when deleted, as a new version; bindings follow.

        `rollback_tool(name, version)` restores an older version instead.

        Raises:
            ToolNotFound: No registry tool has that name.
            RegistryError: It is not deleted, or it is an MCP server's tool.
        """
        self._check_registry()
        restored = self.changes.restore(name, note=note)
        self.lock.pins.pop(restored.name, None)
        return restored

    def create_tool(self, draft: ToolDraft | str | None = None, /, **arguments: Any) -> ToolVersion:
        """Make a tool (from source, or from steps) and register it; it is callable at once.

        `await tools.local.<name>(...)` works as soon as this returns. Each change is a
        new immutable version (creating the same content again records nothing).

        Call it as `create_tool("name", kind=..., language=..., source=...)`, or with a
        whole `ToolDraft`. Its arguments (the fields of `ToolDraft`):

        {fields}

        Returns:
            The tool's current version.

        Raises:
            RegistryError: An invalid name, schema, limit or policy (nothing stored).
            ToolBuildError: The source did not build; the compiler's messages say why.
            ToolchainMissing: The compiler is not installed; the message says how.
            DependencyError: pip or npm failed; their message says why.
        """
        self._check_registry()
        draft = self._locked_dependencies(ToolDraft.of(draft, **arguments))
        if draft.steps:
            self._wait_for_step_servers(draft.steps)
        created = self.changes.create(draft, on_line=_print_line)
        self.lock.pins.pop(created.name, None)  # a tool made here is used as made
        return created

    def _locked_dependencies(self, draft: ToolDraft) -> ToolDraft:
        """`draft` with the exact versions its locked version installed, if the lock pins it.

        So a locked notebook that makes its script tool again gets the dependency
        versions it was locked with, not what the index serves today.
        """
        declared = draft.requirements or draft.packages
        if draft.resolved is not None or not declared or not self.lock.pins:
            return draft
        try:
            name = self.factory.name_for(draft.name, kind=draft.kind, source=draft.source)
            pinned = self.changes.version(name, self.lock.pins[name]).manifest
        except (KeyError, ToolkernelError):
            return draft
        field = "requirements" if draft.requirements else "packages"
        same = sorted(set(pinned.get(field) or ())) == sorted(set(declared))
        if not same or not pinned.get("resolved"):
            return draft
        return dataclasses.replace(draft, resolved=pinned["resolved"])


class DiffText(str):
    """A unified diff that a notebook shows as text, not as a quoted string."""

    __slots__ = ()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self) or "(no differences)")


def _print_line(line: str) -> None:
    print(line, flush=True)


def _document_draft_fields() -> None:
    """Show `ToolDraft`'s fields in `create_tool`'s signature and help, written once there."""
    method = ToolLifecycle.create_tool
    fields = ToolDraft.fields_doc(indent="        ")
    method.__doc__ = (method.__doc__ or "").replace("        {fields}", fields)
    parameters = list(inspect.signature(ToolDraft).parameters.values())
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    first = parameters[0].replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters[1:]]
    signature = inspect.signature(method).replace(parameters=[self, first, *rest])
    method.__signature__ = signature  # type: ignore[attr-defined]


_document_draft_fields()
