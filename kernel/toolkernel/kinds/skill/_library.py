"""Skills in the kernel: `from skills import name`, `save_skill(fn)` and `load_skill(name)`.

The `skills` module is a live view of the registry's `skills` namespace. A Python skill
comes back as a `PythonSkill`: awaiting it runs the current version (or a pinned one)
of the saved `async def`, compiled into its own module whose globals hold the kernel's
preloads (`tools`, `memory`, `skills`, ...). An Agent Skill comes back as an
`AgentSkill`, whose instructions and files are read only when asked for.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolkernel._markup import code_fence, markdown_cell
from toolkernel.errors import RegistryError, ToolInputError, ToolNotFound
from toolkernel.kinds.skill._manifest import SKILL_NAMESPACE

if TYPE_CHECKING:
    from toolkernel.registry import ToolRegistry, ToolVersion

__all__ = ["AgentSkill", "PythonSkill", "SkillLibrary", "skill_entry", "skill_source"]

Recorder = Callable[[str, int], None]


class AgentSkill:
    """An Agent Skills folder: a description up front, instructions and files on demand."""

    def __init__(self, registry: ToolRegistry, version: ToolVersion) -> None:
        self._registry = registry
        self._version = version
        self.name: str = version.manifest.get("title") or version.tool
        """The skill's own name, as its `SKILL.md` spells it (`pdf-processing`)."""
        self.description: str = version.manifest.get("description", "")
        """What the skill does and when to use it."""
        self.version: int = version.version
        """The registry version this object shows."""

    @property
    def files(self) -> list[str]:
        """Every file of the skill folder, `SKILL.md` first."""
        names = sorted(self._version.manifest.get("source", {}))
        return sorted(names, key=lambda path: path != "SKILL.md")

    @property
    def instructions(self) -> str:
        """The whole `SKILL.md`: front matter, then the instructions to follow."""
        text = self.read("SKILL.md")
        return text if isinstance(text, str) else text.decode("utf-8", "replace")

    def read(self, path: str) -> str | bytes:
        """Return one file of the skill: text when it is UTF-8, else bytes.

        Raises:
            ToolNotFound: The skill has no such file; the message lists the files.
        """
        sha = self._version.manifest.get("source", {}).get(path)
        if sha is None:
            msg = f"skill {self.name!r} has no file {path!r}; files: {', '.join(self.files)}"
            raise ToolNotFound(msg, tool=self._version.name)
        data = self._registry.get_blob(sha)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    def __repr__(self) -> str:
        return f"<AgentSkill {self.name} v{self.version}: {self.description[:80]}>"

    def __str__(self) -> str:
        return self.instructions

    def _repr_markdown_(self) -> str:
        # An imported SKILL.md is someone else's text: shown as text, never as live HTML.
        return code_fence(self.instructions, "markdown")


class PythonSkill:
    """A saved Python skill; `await skill(x=...)` runs its current (or pinned) version."""

    def __init__(self, library: SkillLibrary, name: str, version: int | None = None) -> None:
        self._library = library
        self.name = name
        """The qualified name, `skills.<name>`."""
        self.pinned = version
        """The version every call runs, or None for the current one."""

    @property
    def version(self) -> ToolVersion:
        """The registry version a call would run now."""
        return self._library.version_of(self.name, self.pinned)

    @property
    def source(self) -> str:
        """The saved source of the skill's module."""
        return self._library.source_of(self.version)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return str(self.version.manifest.get("description") or "") or None

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._library.function(self.version))

    def at(self, version: int) -> PythonSkill:
        """Return this skill pinned to `version` (an older one, say)."""
        self._library.version_of(self.name, version)  # raises if there is no such version
        return PythonSkill(self._library, self.name, version)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the skill with keyword arguments (or one dict of them) and return its value.

        Raises:
            ToolInputError: The arguments do not fit the skill's signature.
        """
        found = self.version
        function = self._library.function(found)
        if len(args) == 1 and not kwargs and isinstance(args[0], Mapping):
            kwargs, args = dict(args[0]), ()
        try:
            inspect.signature(function).bind(*args, **kwargs)
        except TypeError as exc:
            signature = inspect.signature(function)
            msg = f"{self.name}: {exc}; call it as {found.tool}{signature}"
            raise ToolInputError(msg, tool=self.name) from None
        self._library.record(self.name, found.version)
        return await function(*args, **kwargs)

    def __repr__(self) -> str:
        found = self.version
        first = str(found.manifest.get("description") or "").strip().split("\n", 1)[0]
        return f"<skill {self.name} v{found.version}{': ' + first if first else ''}>"


class SkillLibrary(types.ModuleType):
    """The `skills` module: each attribute is a skill of the registry, looked up live."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        scope: Callable[[], dict[str, Any]],
        pins: Mapping[str, int] | None = None,
        record: Recorder | None = None,
    ) -> None:
        """Serve the registry's skills.

        Args:
            registry: Where skills are stored.
            scope: Gives the globals a Python skill's module starts with (the preloads).
            pins: Versions a locked notebook pins skills to (`skills.name` -> version).
            record: Told each skill call (name, version), for `%tools lock`.
        """
        super().__init__(SKILL_NAMESPACE, "Skills saved in the toolkernel registry.")
        self._registry = registry
        self._scope = scope
        self._pins = pins if pins is not None else {}
        self._record = record
        self._functions: dict[tuple[str, int], Callable[..., Any]] = {}

    def __getattr__(self, attribute: str) -> PythonSkill | AgentSkill:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        try:
            return self.load(attribute)
        except ToolNotFound as exc:
            raise AttributeError(str(exc)) from None

    def __dir__(self) -> list[str]:
        return sorted(version.tool for version in self._current())

    @property
    def __all__(self) -> list[str]:
        return self.__dir__()

    def load(self, name: str) -> PythonSkill | AgentSkill:
        """Return skill `name` (`summarize`, `skills.summarize` or `pdf-processing`).

        Raises:
            ToolNotFound: No such skill; the message lists the skills there are.
        """
        qualified = self.qualify(name)
        version = self.version_of(qualified, None)
        if version.manifest.get("language") == "markdown":
            return AgentSkill(self._registry, version)
        return PythonSkill(self, qualified)

    def qualify(self, name: str) -> str:
        """Return `skills.<identifier>` for any spelling of a skill's name."""
        tool = name.removeprefix(f"{SKILL_NAMESPACE}.").replace("-", "_")
        return f"{SKILL_NAMESPACE}.{tool}"

    def version_of(self, name: str, version: int | None) -> ToolVersion:
        """Return the version of skill `name` a call runs (the pin, else the current one)."""
        wanted = version if version is not None else self._pins.get(name)
        if wanted is None:
            live = {found.name: found for found in self._current()}
            if name not in live:
                known = ", ".join(sorted(found.tool for found in live.values())) or "none yet"
                msg = f"no skill {name!r}; skills: {known}. Save one with save_skill(fn)"
                raise ToolNotFound(msg, tool=name)
            return live[name]
        return self._registry.tool_version(name, wanted)

    def source_of(self, version: ToolVersion) -> str:
        """Return the saved Python source of a skill version."""
        sha = version.manifest["source"]["skill.py"]
        return self._registry.get_blob(sha).decode("utf-8")

    def function(self, version: ToolVersion) -> Callable[..., Any]:
        """Return the `async def` of a skill version, compiled once into its own module."""
        key = (version.name, version.version)
        if key not in self._functions:
            module = types.ModuleType(version.name)
            module.__dict__.update(self._scope())
            filename = f"<{version.name} v{version.version}>"
            # dont_inherit: this module's `from __future__ import annotations` must not
            # turn the skill's annotations into strings.
            code = compile(self.source_of(version), filename, "exec", dont_inherit=True)
            exec(code, module.__dict__)  # noqa: S102 - a skill is the user's own notebook code
            self._functions[key] = module.__dict__[version.manifest["entry"]]
        return self._functions[key]

    def record(self, name: str, version: int) -> None:
        """Tell the session's lock that skill `name` ran at `version`."""
        if self._record is not None:
            self._record(name, version)

    def _current(self) -> list[ToolVersion]:
        return [v for v in self._registry.registry_tools(SKILL_NAMESPACE) if v.kind == "skill"]

    def _repr_markdown_(self) -> str:
        rows = []
        for found in self._current():
            kind = "Agent Skill" if found.manifest.get("language") == "markdown" else "Python"
            first = (str(found.manifest.get("description") or "").strip().splitlines() or [""])[0]
            name, description = markdown_cell(found.tool), markdown_cell(first)
            rows.append(f"| {name} | {kind} | {found.version} | {description} |")
        if not rows:
            return "No skills yet: save one with `save_skill(fn)` or `%%skill`."
        return "| skill | kind | version | description |\n|---|---|---|---|\n" + "\n".join(rows)


def skill_source(function: Callable[..., Any], provided: Mapping[str, Any]) -> str:
    """Return a module source for `function`: its own text, plus the imports it relies on.

    A module the function uses through a global (`json`, `np`) becomes an import line;
    names in `provided` (the preloads) need nothing.

    Raises:
        RegistryError: It is not an `async def`, its source is unavailable, or it uses
            a notebook global that is not a module (the message names it).
    """
    if not inspect.iscoroutinefunction(function):
        msg = f"a skill must be an `async def`; {function!r} is not"
        raise RegistryError(msg)
    try:
        text = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as exc:
        msg = f"the source of {function.__name__} is not available; use %%skill in its cell"
        raise RegistryError(msg) from exc
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.AsyncFunctionDef))
    body = "\n".join(text.splitlines()[node.lineno - 1 :])  # without decorators
    read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    imports, missing = [], []
    for name in sorted((_global_names(function.__code__) & read) - set(provided)):
        value = function.__globals__.get(name, _ABSENT)
        if isinstance(value, types.ModuleType):
            module = value.__name__
            imports.append(f"import {module}" if module == name else f"import {module} as {name}")
        elif value is not _ABSENT and not hasattr(builtins, name):
            missing.append(name)
    if missing:
        msg = (
            f"{function.__name__} uses {', '.join(missing)} from the notebook; a skill must "
            "stand alone: define them inside the function, or save the whole cell with %%skill"
        )
        raise RegistryError(msg)
    return "\n".join([*imports, "", "", body]) if imports else body + "\n"


_ABSENT = object()


def skill_entry(source: str, name: str | None) -> str:
    """Return which `async def` of a cell's `source` is the skill.

    That is the one named `name` when given (`skills.` prefix allowed), else the only one.

    Raises:
        RegistryError: The source does not parse, or the choice is missing or ambiguous.
    """
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        msg = f"the skill's source does not parse: line {exc.lineno}: {exc.msg}"
        raise RegistryError(msg) from exc
    defined = [n.name for n in module.body if isinstance(n, ast.AsyncFunctionDef)]
    wanted = name.removeprefix(f"{SKILL_NAMESPACE}.") if name else None
    if wanted in defined:
        return str(wanted)
    if len(defined) == 1 and wanted is None:
        return defined[0]
    if not defined:
        msg = "a skill's cell must define an `async def` at top level"
    else:
        msg = f"the cell defines {', '.join(defined)}: name the skill, e.g. %%skill {defined[-1]}"
    raise RegistryError(msg)


def _global_names(code: types.CodeType) -> set[str]:
    """Every name `code` (and the functions and comprehensions in it) may read as a global."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names
