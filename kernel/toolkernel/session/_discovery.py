"""Progressive discovery: list, search and describe tools as a model would want them.

`detail` follows Anthropic's code-execution proposal: `"name"` for names only,
`"line"` for one line per tool (its call and a one-sentence description, what the bridge
answers), `"summary"` adds a one-line description and the call signature, `"full"` adds
the docstring, schemas and annotations.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from toolkernel._markup import code_fence
from toolkernel.errors import ToolkernelError, ToolNotFound
from toolkernel.factory import SKILL_NAMESPACE

if TYPE_CHECKING:
    from toolkernel._spec import ToolSpec
    from toolkernel.bindings import ToolsNamespace
    from toolkernel.host import ServerStatus
    from toolkernel.registry import ToolRegistry
    from toolkernel.session._skills import SkillLibrary

__all__ = ["Detail", "Discovery", "Listing", "ToolDetails", "server_notes"]

Detail = Literal["name", "line", "summary", "full"]
_DETAILS = ("name", "line", "summary", "full")


class Listing(list[Any]):
    """A discovery answer: a plain list, plus `notes` on what it may be missing.

    The notes say which servers are still connecting (their tools may be absent), which
    failed and why, or that no mcp.json was found and where it was looked for. They
    show after the list when it is displayed; code iterates the list as usual.
    """

    def __init__(self, items: list[Any], notes: list[str]) -> None:
        """Wrap `items` with the `notes` about what the answer covers."""
        super().__init__(items)
        self.notes = notes

    def __repr__(self) -> str:
        return super().__repr__() + "".join(f"\n# note: {note}" for note in self.notes)


@dataclass(frozen=True)
class ToolDetails:
    """Everything a caller needs to call one tool from a cell.

    Attributes:
        name: The Python path under `tools` (`filesystem.read_file`).
        mcp_name: The tool's own name on its server (`read_file`, or `get-weather`).
        source: The server or registry namespace that offers it.
        signature: The binding's signature (`read_file(*, path: str) -> str`).
        doc: The binding's docstring.
        input_schema: The JSON Schema of the arguments.
        output_schema: The JSON Schema of the structured result, if declared.
        annotations: MCP annotations (`readOnlyHint`, ...), if any.
        dependencies: The exact pip or npm versions a script tool's current version
            installs (`six==1.17.0`), recorded when it was built; [] for other tools.
    """

    name: str
    mcp_name: str
    source: str
    signature: str
    doc: str
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    dependencies: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the details as a JSON-ready dict."""
        return {
            "name": self.name,
            "mcp_name": self.mcp_name,
            "source": self.source,
            "signature": self.signature,
            "doc": self.doc,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "annotations": self.annotations,
            **({"dependencies": self.dependencies} if self.dependencies else {}),
        }

    def __str__(self) -> str:
        return f"async def {self.signature}\n\n{self.doc}{self._installs}".rstrip()

    def __repr__(self) -> str:
        return f"{self.call}\n\n{self.doc}{self._installs}".rstrip()

    def _repr_markdown_(self) -> str:
        return f"{code_fence(self.call, 'python')}\n\n{code_fence(self.doc + self._installs)}"

    @property
    def _installs(self) -> str:
        return f"\n\nInstalls: {' '.join(self.dependencies)}" if self.dependencies else ""

    @property
    def call(self) -> str:
        """How a cell uses it: `await tools.server.f(...)`, `await skills.f(...)`, ..."""
        if self.signature.startswith("load_skill("):
            return self.signature
        if self.source == SKILL_NAMESPACE:
            return f"await {self.source_path}"
        return f"await tools.{self.source_path}"

    @property
    def source_path(self) -> str:
        """`server.function(...)` as written after `tools.` in a cell."""
        return f"{self.name.split('.', 1)[0]}.{self.signature}"


class Discovery:
    """List, search and describe the tools a kernel can call."""

    def __init__(
        self,
        registry: ToolRegistry,
        namespace: ToolsNamespace,
        sources: list[str] | Callable[[], list[str]],
        skills: SkillLibrary | None = None,
        *,
        notes: Callable[[], list[str]] | None = None,
    ) -> None:
        """Discover the tools of `sources`: a list, or a function giving the current one.

        A function lets registry namespaces created after start (`create_tool`) appear.
        `skills` describes skills (`skills.<name>`), which have no binding under `tools`.
        `notes` is called before each answer: it may wait (bounded) for servers making a
        first connection, and returns what the answer may be missing (see `Listing`).
        """
        self._notes = notes or list
        self._skills = skills
        self._registry = registry
        self._namespace = namespace
        self._get_sources = sources if callable(sources) else lambda: list(sources)

    @property
    def _sources(self) -> list[str]:
        return self._get_sources()

    def list_tool_names(self, server: str | None = None) -> Listing:
        """Return `server.tool` Python names of every tool, or of one server's tools.

        `server` is its name in mcp.json (`my-server`) or under `tools` (`my_server`).
        The list's `notes` name servers still connecting or failed (see `Listing`).
        """
        notes = self._notes()
        sources = self._sources_for(server)
        specs = self._registry.list_tools(sources=sources)
        return Listing([self._python_path(spec) for spec in specs], notes)

    def search_tools(
        self,
        query: str = "",
        limit: int = 10,
        detail: Detail = "summary",
        server: str | None = None,
    ) -> Listing:
        """Return the tools that best match `query` (BM25), best first.

        An empty `query` lists the tools instead, by server and name. `server` (its
        name or its Python spelling) keeps one server's tools.

        `detail="name"` gives names; `"line"` one line per tool, its call and a sentence
        (`crm.get_record(*, record_id: str) -> GetRecordResult — Get one record.`);
        `"summary"` gives name, description and signature; `"full"` adds the docstring,
        schemas and annotations. The list's `notes` name servers still connecting or
        failed (see `Listing`).

        Raises:
            ValueError: `detail` is not one of the four.
            ToolNotFound: No server is named `server`.
        """
        if detail not in _DETAILS:
            msg = f"detail must be one of {', '.join(_DETAILS)}, not {detail!r}"
            raise ValueError(msg)
        notes = self._notes()
        sources, most = self._sources_for(server), max(0, int(limit))
        if query.strip():
            specs = [hit.spec for hit in self._registry.search(query, limit=most, sources=sources)]
        else:
            specs = self._registry.list_tools(sources=sources)[:most]
        if detail == "name":
            return Listing([self._python_path(spec) for spec in specs], notes)
        if detail == "line":
            return Listing([self._line(spec) for spec in specs], notes)
        rows: list[dict[str, Any]] = []
        for spec in specs:
            info = self.details_for(spec)
            row: dict[str, Any] = {
                "name": info.name,
                "description": _first_line(spec.description),
                "signature": info.signature,
            }
            if detail == "full":
                row |= info.to_json()
            rows.append(row)
        return Listing(rows, notes)

    def _sources_for(self, server: str | None) -> list[str]:
        """The sources to search: all, or the one `server` names (either spelling)."""
        sources = self._sources
        if server is None:
            return sources
        original = self._source_named(server, sources)
        if original is None:
            known = ", ".join(self._source_label(source) for source in sources)
            msg = f"no server named {server!r}; servers: {known or 'none configured'}"
            raise ToolNotFound(msg, tool=server)
        return [original]

    def _line(self, spec: ToolSpec) -> str:
        """`server.tool(signature) — first sentence`: enough to call it, in few tokens."""
        info = self.details_for(spec)
        source = info.name.split(".", 1)[0]
        # The call as a cell writes it, less `await tools.`, with the types that live
        # under `tools.<server>.` named without that prefix.
        call = info.call.removeprefix("await ").removeprefix("tools.")
        call = call.replace(f"tools.{source}.", "")
        sentence = _first_sentence(spec.description)
        return f"{call} — {sentence}" if sentence else call

    def get_tool_details(self, name: str) -> ToolDetails:
        """Describe one tool; `name` is `server.tool`, each part in Python or MCP spelling.

        `my_server.class_`, `my-server.class` and `tools.my_server.class_` all name the
        tool `class` of the server `my-server`.
        """
        notes = self._notes()
        try:
            spec = self._registry.get_tool(self._original_name(name.removeprefix("tools.")))
        except ToolNotFound as exc:
            if not notes:
                raise
            msg = f"{exc} (note: {'; '.join(notes)})"
            raise ToolNotFound(msg, tool=name) from exc
        if spec.source not in self._sources:
            known = ", ".join(self._sources) or "none"
            msg = (
                f"tool {name!r} comes from {spec.source!r}, which is not in mcp.json; "
                f"add it there and restart the kernel (configured servers: {known})"
            )
            raise ToolNotFound(msg, tool=name)
        return self.details_for(spec)

    def details_for(self, spec: ToolSpec) -> ToolDetails:
        """Build the details of a spec from its generated binding."""
        path = self._python_path(spec)
        function = self._binding(spec)
        if spec.kind == "skill" and not callable(function):
            name = spec.title or spec.name
            signature = f"load_skill({name!r})"
            doc = f"{spec.description}\n\nAn Agent Skill: {signature}.instructions holds its text."
        elif function is None:
            signature, doc = f"{path.split('.', 1)[1]}(**arguments)", spec.description
        else:
            signature = f"{path.split('.', 1)[1]}{inspect.signature(function)}"
            doc = inspect.getdoc(function) or ""
        return ToolDetails(
            name=path,
            mcp_name=spec.name,
            source=spec.source,
            signature=signature,
            doc=doc,
            input_schema=spec.input_schema,
            output_schema=spec.output_schema,
            annotations=spec.annotations,
            dependencies=self._dependencies(spec),
        )

    def _dependencies(self, spec: ToolSpec) -> list[str]:
        """The pins a script tool's current version installs."""
        if spec.kind != "script":
            return []
        try:
            return self._registry.tool_version(spec.qualified_name).dependencies
        except ToolkernelError:
            return []

    def _binding(self, spec: ToolSpec) -> Any:
        if spec.kind == "skill" and self._skills is not None:
            try:
                return self._skills.load(spec.name)
            except ToolNotFound:
                return None
        module = getattr(self._namespace, self._namespace.python_source(spec.source), None)
        if module is None:
            return None
        return getattr(module, self._namespace.python_name(spec.source, spec.name), None)

    def _original_name(self, qualified: str) -> str:
        """`qualified` with its source part as mcp.json spells it, when it is a source."""
        sources = self._sources
        dot = qualified.find(".")
        while dot > 0:
            original = self._source_named(qualified[:dot], sources)
            if original is not None:
                return f"{original}{qualified[dot:]}"
            dot = qualified.find(".", dot + 1)
        return qualified

    def _source_named(self, name: str, sources: list[str]) -> str | None:
        """The source `name` is: itself, or the one whose module is `tools.<name>`."""
        if name in sources:
            return name
        return next((s for s in sources if self._namespace.python_source(s) == name), None)

    def _source_label(self, source: str) -> str:
        python = self._namespace.python_source(source)
        return source if python == source else f"{python} ({source})"

    def _python_path(self, spec: ToolSpec) -> str:
        if spec.kind == "skill":
            return f"{SKILL_NAMESPACE}.{spec.name}"
        source = self._namespace.python_source(spec.source)
        return f"{source}.{self._namespace.python_name(spec.source, spec.name)}"


def server_notes(statuses: list[ServerStatus]) -> list[str]:
    """Say which servers a discovery answer may be missing: still connecting, or failed."""
    notes = []
    waiting = [s.name for s in statuses if s.state == "connecting" and s.tool_count is None]
    cached = [s.name for s in statuses if s.state == "connecting" and s.tool_count is not None]
    if waiting:
        names = ", ".join(waiting)
        notes.append(
            f"still connecting, tools not listed yet: {names}; ask again shortly "
            "(or `await wait_for_servers()` in code)"
        )
    if cached:
        notes.append(f"still connecting, tools listed from cache: {', '.join(cached)}")
    notes += [
        f"server {s.name!r} is unavailable: {_first_line(s.detail or 'it failed')}"
        for s in statuses
        if s.state == "failed"
    ]
    return notes


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_sentence(text: str, limit: int = 120) -> str:
    line = _first_line(text, limit=len(text) + 1)
    end = _SENTENCE_END.search(line)
    sentence = line[: end.start() + 1] if end else line
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z])")
