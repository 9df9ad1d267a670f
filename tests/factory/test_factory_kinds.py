"""Kinds: the factory and the host dispatch through the registry of kinds and know none.

One test reads the factory's and the host's source: no import of a kind's module, and
no kind's name written in their code. The other registers a new kind in the test and
creates and calls a tool of it through the real `ToolFactory` and `ToolHost.call`.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkernel.errors import RegistryError
from toolkernel.factory import ToolDraft, ToolFactory
from toolkernel.host import ToolHost
from toolkernel.kinds import (
    CallContext,
    KindContext,
    LineSink,
    ToolIndex,
    json_result,
    kind_names,
    register_kind,
)
from toolkernel.registry import ToolRegistry, ToolVersion

PACKAGE = Path(__file__).parents[2] / "kernel" / "toolkernel"
KIND_MODULES = tuple(f"toolkernel.kinds.{name}" for name in kind_names())
# The factory re-exports a few kinds' names for modules outside it that still import
# them from `toolkernel.factory`; nothing in the factory uses them.
REEXPORTS = {"factory/__init__.py": {"toolkernel.kinds.skill", "toolkernel.kinds.wasm"}}


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports from, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def kind_imports(path: Path) -> set[str]:
    return {
        module
        for module in imported_modules(path)
        if any(module == kind or module.startswith(kind + ".") for kind in KIND_MODULES)
    }


def code_strings(path: Path) -> set[str]:
    """The string constants of `path`, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    }


def modules_of(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (PACKAGE / folder).glob("*.py"))


def test_the_factory_and_the_host_import_no_kind_and_name_none() -> None:
    assert {"wasm", "script", "pipeline", "skill"} <= set(kind_names())
    # Controls: the checks do see a kind's import, and a kind's name, where they are.
    assert kind_imports(PACKAGE / "kinds" / "wasm" / "__init__.py") == {
        "toolkernel.kinds.wasm._build",
        "toolkernel.kinds.wasm._kind",
    }
    assert "skill" in code_strings(PACKAGE / "kinds" / "__init__.py")
    for path in modules_of("factory", "host"):
        relative = path.relative_to(PACKAGE).as_posix()
        assert kind_imports(path) <= REEXPORTS.get(relative, set()), relative
        assert not set(kind_names()) & code_strings(path), relative
    for path in modules_of("factory"):
        private_host = {m for m in imported_modules(path) if m.startswith("toolkernel.host._")}
        assert private_host == set(), path.name


class EchoKind:
    """A kind made in this test: a text prefix, echoed back with each call's arguments."""

    name = "echo"
    namespace: str | None = None
    served = True
    closed: list[str] = []  # noqa: RUF012 - shared by the instances a test makes

    def __init__(self, context: KindContext) -> None:
        self.context = context

    def default_name(self, source: object) -> str:
        msg = "an echo tool needs a name"
        raise RegistryError(msg)

    def check(self, name: str, draft: ToolDraft, tools: ToolIndex) -> dict[str, Any]:
        if draft.language != "text":
            msg = f"{name}: an echo tool's language is 'text', not {draft.language!r}"
            raise RegistryError(msg)
        return {"language": "text", "knows_itself": name in tools.names()}

    def build(
        self, name: str, draft: ToolDraft, manifest: dict[str, Any], on_line: LineSink | None
    ) -> dict[str, Any]:
        if on_line is not None:
            on_line(f"{name}: nothing to compile")
        blob = self.context.registry.put_blob(str(draft.source).encode())
        return {"source": {"prefix.txt": blob}}

    def install(self, name: str, manifest: dict[str, Any], on_line: LineSink | None) -> None:
        if on_line is not None:
            on_line(f"{name}: installed")

    async def run(self, version: ToolVersion, arguments: dict[str, Any], call: CallContext) -> Any:
        if call.hooks.on_progress is not None:
            call.hooks.on_progress(1.0, 1.0, "echoed")
        prefix = self.context.registry.get_blob(version.manifest["source"]["prefix.txt"])
        return json_result(version.name, {"prefix": prefix.decode(), **arguments})

    async def aclose(self) -> None:
        self.closed.append("aclose")

    def close(self) -> None:
        self.closed.append("close")


@pytest.fixture
def echo_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[EchoKind]]:
    # The registry still keeps its own list of the kinds it stores (registry/_versions);
    # until it asks the kinds' registry, a new kind is added there too.
    from toolkernel.registry import _versions

    monkeypatch.setattr(_versions, "TOOL_KINDS", (*_versions.TOOL_KINDS, "echo"))
    restore = register_kind("echo", EchoKind)
    EchoKind.closed.clear()
    yield EchoKind
    restore()


def test_a_kind_registered_here_is_created_and_called_through_factory_and_host(
    echo_kind: type[EchoKind], tmp_path: Path
) -> None:
    lines: list[str] = []
    progress: list[tuple[float, float | None, str | None]] = []
    with ToolRegistry(tmp_path / "home") as registry:
        # Created without a host, as the CLI does.
        factory = ToolFactory(registry, reserved=(), cache_dir=tmp_path / "cache")
        draft = ToolDraft("shout", kind="echo", language="text", source="hey")
        created = factory.create(draft, on_line=lines.append)
        assert (created.name, created.kind, created.manifest["language"]) == (
            "local.shout",
            "echo",
            "text",
        )
        assert lines == ["local.shout: nothing to compile", "local.shout: installed"]
        with pytest.raises(RegistryError, match="language is 'text', not 'rust'"):
            factory.create("bad", kind="echo", language="rust", source="hey")

        host = ToolHost({}, registry=registry, logs_dir=tmp_path / "logs")
        host.start()
        try:
            call = host.call("local.shout", {"n": 1}, on_progress=lambda *p: progress.append(p))
            result = asyncio.run(asyncio.wait_for(call, 30))
        finally:
            host.stop()
    assert result.structured == {"prefix": "hey", "n": 1}
    assert progress == [(1.0, 1.0, "echoed")]
    assert echo_kind.closed == ["aclose", "close"]


def test_an_unregistered_kind_is_refused_with_the_kinds_there_are(tmp_path: Path) -> None:
    with ToolRegistry(tmp_path / "home") as registry:
        factory = ToolFactory(registry, reserved=(), cache_dir=tmp_path / "cache")
        with pytest.raises(RegistryError, match=r"unknown tool kind 'echo'; use kind=.*'wasm'"):
            factory.create("shout", kind="echo", language="text", source="hey")


def test_a_draft_refuses_arguments_create_tool_does_not_take() -> None:
    with pytest.raises(RegistryError, match=r"no argument 'colour'; its arguments are: name"):
        ToolDraft.of("paint", colour="red")
    with pytest.raises(RegistryError, match="not both"):
        ToolDraft.of(ToolDraft("paint"), kind="script")
    with pytest.raises(RegistryError, match=r'input_schema of .paint. must have "type"'):
        ToolDraft("paint", input_schema={"type": "string"})
    assert ToolDraft.of(name="paint", kind="script") == ToolDraft("paint", kind="script")


def test_the_draft_schema_offers_every_create_tool_argument() -> None:
    schema = ToolDraft.json_schema(kinds=kind_names())
    assert list(schema["properties"]) == list(ToolDraft.__dataclass_fields__)
    assert schema["properties"]["kind"]["enum"] == kind_names()
    assert schema["properties"]["kind"]["default"] == "wasm"
    assert schema["additionalProperties"] is False
