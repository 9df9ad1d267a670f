"""The kernel's lifecycle API: create, version, diff and roll back tools; save and load skills.

`Toolbox` inherits it; these are the functions a kernel preloads for changing tools
(`create_tool`, `tool_versions`, `diff_tool`, `rollback_tool`, `save_skill`,
`load_skill`). Every change goes through the one `ToolFactory` and the registry, then
the host re-reads the registry so bindings follow at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkernel.errors import RegistryError
from toolkernel.kernel._skills import AgentSkill, PythonSkill, skill_entry, skill_source

if TYPE_CHECKING:
    from toolkernel.bundles import ImportedTool
    from toolkernel.config import McpConfig
    from toolkernel.factory import ToolFactory
    from toolkernel.host import ToolHost
    from toolkernel.kernel._lock import ToolLock
    from toolkernel.kernel._skills import SkillLibrary
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = ["DiffText", "ToolLifecycle"]


class ToolLifecycle:
    """Creating and changing registry tools and skills, for a `Toolbox`."""

    factory: ToolFactory
    registry: ToolRegistry
    host: ToolHost
    lock: ToolLock
    skills: SkillLibrary
    skill_scope: dict[str, Any]
    config: McpConfig
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
            namespace: Put every tool (but skills) in this namespace instead.
            history: Replay a bundle's earlier versions for tools new here.
            trust: Only after a person read the tools: approve the grants they ask for
                (network, host paths, secrets). Tools that ask for none need no approval.

        Raises:
            TrustRequired: Tools ask for grants no person approved; the message lists
                each tool's grants; nothing was written.
            BundleError: Unsafe or unreadable source, or a name collision; nothing
                was written.
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
        )
        for tool in imported:
            self.lock.pins.pop(tool.name, None)
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
        servers = named & set(self.config.servers)
        if servers:
            timeout = self.host.connect_timeout
            self.host.submit(self.host.wait_settled(timeout, servers)).result(timeout + 5)

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
        self._check_registry()
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
        self._check_registry()
        if kind == "pipeline" and steps:
            self._wait_for_step_servers(steps)
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


class DiffText(str):
    """A unified diff that a notebook shows as text, not as a quoted string."""

    __slots__ = ()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self) or "(no differences)")


def _print_line(line: str) -> None:
    print(line, flush=True)
